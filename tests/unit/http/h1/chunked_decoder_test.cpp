#include <gtest/gtest.h>

#include <string>

#include "http/h1/parser.hpp"

namespace usher::http::h1 {
namespace {

using Kind = ChunkedDecoder::Step::Kind;

struct Decoded {
    Kind end = Kind::need_more;  // done, error, or need_more when input ran out
    std::string payload;
    std::string trailers;
    std::size_t consumed = 0;
    std::uint16_t status = 0;
};

// Feeds all of `input` at once, calling decode until it stops making progress.
Decoded decode_whole(std::string_view input, std::size_t max_trailers = 16 * 1024) {
    ChunkedDecoder decoder(max_trailers);
    Decoded out;
    for (;;) {
        const ChunkedDecoder::Step step = decoder.decode(input.substr(out.consumed));
        out.consumed += step.consumed;
        if (step.kind == Kind::data) {
            out.payload.append(step.data);
            continue;
        }
        out.end = step.kind;
        out.trailers = std::string(step.trailers);
        out.status = step.error.status;
        return out;
    }
}

// Feeds `input` one byte at a time, keeping unconsumed bytes as a real connection would.
Decoded decode_bytewise(std::string_view input) {
    ChunkedDecoder decoder;
    Decoded out;
    std::string pending;
    for (char c : input) {
        pending.push_back(c);
        for (;;) {
            const ChunkedDecoder::Step step = decoder.decode(pending);
            out.payload.append(step.data);  // views point into `pending`: copy before erasing
            out.trailers = std::string(step.trailers);
            pending.erase(0, step.consumed);
            out.consumed += step.consumed;
            if (step.kind == Kind::data) {
                continue;
            }
            if (step.kind != Kind::need_more) {
                out.end = step.kind;
                out.status = step.error.status;
                return out;
            }
            break;
        }
    }
    return out;
}

TEST(ChunkedDecoder, DecodesChunksAndStopsAfterTheLastChunk) {
    const std::string body = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nNEXT";
    const Decoded d = decode_whole(body);
    EXPECT_EQ(d.end, Kind::done);
    EXPECT_EQ(d.payload, "hello, world");
    EXPECT_EQ(d.consumed, body.size() - 4);
    EXPECT_EQ(d.trailers, "");
}

TEST(ChunkedDecoder, ByteAtATimeGivesTheSamePayload) {
    const std::string body =
        "5;ext=val;q=\"a \\\" b\"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    const Decoded whole = decode_whole(body);
    const Decoded bytes = decode_bytewise(body);
    EXPECT_EQ(whole.end, Kind::done);
    EXPECT_EQ(bytes.end, Kind::done);
    EXPECT_EQ(whole.payload, "helloabcdefghijklmnopqrstuvwxyz");
    EXPECT_EQ(bytes.payload, whole.payload);
    EXPECT_EQ(whole.trailers, "X-Checksum: abc\r\nX-Other: 1\r\n");
    EXPECT_EQ(bytes.trailers, whole.trailers);
    EXPECT_EQ(bytes.consumed, body.size());
}

TEST(ChunkedDecoder, ReturnsAllAvailableBytesOfAChunkInOneStep) {
    ChunkedDecoder decoder;
    ChunkedDecoder::Step step = decoder.decode("a\r\n0123");
    ASSERT_EQ(step.kind, Kind::data);
    EXPECT_EQ(step.data, "0123");
    EXPECT_EQ(step.consumed, 7U);
    step = decoder.decode("456789\r\n0\r\n\r\n");
    ASSERT_EQ(step.kind, Kind::data);
    EXPECT_EQ(step.data, "456789");
    step = decoder.decode("\r\n0\r\n\r\n");
    EXPECT_EQ(step.kind, Kind::done);
    EXPECT_EQ(step.consumed, 7U);
    EXPECT_TRUE(decoder.finished());
}

TEST(ChunkedDecoder, NeedMoreMayConsumeWhatIsComplete) {
    ChunkedDecoder decoder;
    ASSERT_EQ(decoder.decode("3\r\nabc").kind, Kind::data);
    const ChunkedDecoder::Step step = decoder.decode("\r\n1");
    EXPECT_EQ(step.kind, Kind::need_more);
    EXPECT_EQ(step.consumed, 2U);
}

TEST(ChunkedDecoder, AcceptsUppercaseHexAndLeadingZeros) {
    EXPECT_EQ(decode_whole("000A\r\n0123456789\r\n0000\r\n\r\n").payload, "0123456789");
}

TEST(ChunkedDecoder, AcceptsWhitespaceBeforeExtensionsOnly) {
    EXPECT_EQ(decode_whole("1 ;a\r\nx\r\n0\r\n\r\n").end, Kind::done);
    EXPECT_EQ(decode_whole("1\t; a = b\r\nx\r\n0\r\n\r\n").end, Kind::done);
    EXPECT_EQ(decode_whole("1 \r\nx\r\n0\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole(" 1\r\nx\r\n0\r\n\r\n").end, Kind::error);
}

TEST(ChunkedDecoder, RejectsMalformedChunkSizes) {
    for (const char* bad :
         {"\r\nx\r\n0\r\n\r\n", "+1\r\nx\r\n0\r\n\r\n", "0x1\r\nx\r\n0\r\n\r\n", "-1\r\nx\r\n",
          "g\r\n", "1 1\r\nx\r\n", "8000000000000000\r\n", "fffffffffffffffffff\r\n"}) {
        const Decoded d = decode_whole(bad);
        EXPECT_EQ(d.end, Kind::error) << bad;
        EXPECT_EQ(d.status, 400) << bad;
    }
    EXPECT_EQ(decode_whole("7fffffffffffffff\r\nabc").end, Kind::need_more);
}

TEST(ChunkedDecoder, RejectsMalformedExtensions) {
    for (const char* bad : {"1;\r\nx\r\n", "1;=a\r\nx\r\n", "1;a=\r\nx\r\n", "1;a=\"x\r\nx\r\n",
                            "1;a b\r\nx\r\n", "1;a=b c\r\nx\r\n", "1;a=\"\x01\"\r\nx\r\n"}) {
        EXPECT_EQ(decode_whole(bad).end, Kind::error) << bad;
    }
}

TEST(ChunkedDecoder, RejectsMissingCrlfAfterChunkData) {
    EXPECT_EQ(decode_whole("3\r\nabcX\r\n0\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole("3\r\nabc\n0\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole("3\r\nabc\r0\r\n\r\n").end, Kind::error);
}

TEST(ChunkedDecoder, RejectsBareLf) {
    EXPECT_EQ(decode_whole("3\nabc\r\n0\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole("0\r\n\n").end, Kind::error);
    EXPECT_EQ(decode_whole("0\r\nA: b\n\r\n").end, Kind::error);
}

TEST(ChunkedDecoder, ValidatesTrailerFields) {
    EXPECT_EQ(decode_whole("0\r\nBad Name: x\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole("0\r\nA: b\r\n folded\r\n\r\n").end, Kind::error);
    EXPECT_EQ(decode_whole(std::string("0\r\nA: \0\r\n\r\n", 12)).end, Kind::error);
}

TEST(ChunkedDecoder, BoundsTheTrailerSection) {
    const std::string trailer = "X: " + std::string(30, 'a') + "\r\n";  // 35 bytes
    EXPECT_EQ(decode_whole("0\r\n" + trailer + "\r\n", 35).end, Kind::done);
    EXPECT_EQ(decode_whole("0\r\n" + trailer + "\r\n", 34).end, Kind::error);
    EXPECT_EQ(decode_whole("0\r\n" + std::string(100, 'a'), 34).end, Kind::error);
    EXPECT_EQ(decode_whole("0\r\n" + std::string(30, 'a'), 34).end, Kind::need_more);
}

TEST(ChunkedDecoder, RejectsOverlongChunkSizeLines) {
    EXPECT_EQ(decode_whole("1;a=" + std::string(5000, 'b')).end, Kind::error);
}

TEST(ChunkedDecoder, StaysFailedAndResets) {
    ChunkedDecoder decoder;
    EXPECT_EQ(decoder.decode("z\r\n").kind, Kind::error);
    EXPECT_EQ(decoder.decode("0\r\n\r\n").kind, Kind::error);
    decoder.reset();
    EXPECT_EQ(decoder.decode("0\r\n\r\n").kind, Kind::done);
    EXPECT_TRUE(decoder.finished());
}

}  // namespace
}  // namespace usher::http::h1
