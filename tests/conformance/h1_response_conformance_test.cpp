// RFC 9112 conformance table for parse_response_head: framing per RFC 9112 6.3 and everything a
// proxy must refuse to forward (any error is a 502 for the client). The row name becomes the ctest
// case name; every defect found in the response parser becomes a row here first.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/h1/parser.hpp"

namespace usher::http::h1 {
namespace {

using namespace std::string_literals;

struct Row {
    std::string name;
    std::string method;  // of the request this response answers
    std::string raw;     // a whole response head
    bool complete = false;
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;
    bool keep_alive =
        true;  // Keeps ctest names short (gtest would otherwise print the struct's raw bytes).
    friend void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }
};

Row ok(std::string name, std::string raw, BodyFraming framing, std::uint64_t length = 0,
       std::string method = "GET", bool keep_alive = true) {
    return {std::move(name), std::move(method), std::move(raw), true, framing, length, keep_alive};
}
Row bad(std::string name, std::string raw, std::string method = "GET") {
    return {std::move(name), std::move(method), std::move(raw), false};
}
std::string ok_with(const std::string& fields) {
    return "HTTP/1.1 200 OK\r\n" + fields + "\r\n";
}

constexpr auto kNone = BodyFraming::none;
constexpr auto kLength = BodyFraming::content_length;
constexpr auto kChunked = BodyFraming::chunked;
constexpr auto kClose = BodyFraming::until_close;

std::vector<Row> rows() {
    return {
        // Framing (RFC 9112 6.3).
        ok("frames_by_content_length", ok_with("Content-Length: 12\r\n"), kLength, 12),
        ok("frames_by_chunked", ok_with("Transfer-Encoding: chunked\r\n"), kChunked),
        ok("frames_by_chunked_any_case_with_ows", ok_with("Transfer-Encoding:\t Chunked \r\n"),
           kChunked),
        ok("reads_until_close_without_framing", ok_with(""), kClose, 0, "GET", false),
        ok("collapses_identical_content_lengths",
           ok_with("Content-Length: 7\r\nContent-Length: 7, 7\r\n"), kLength, 7),
        ok("has_no_body_for_head", ok_with("Content-Length: 100\r\n"), kNone, 0, "HEAD"),
        ok("has_no_body_for_head_even_if_chunked", ok_with("Transfer-Encoding: chunked\r\n"), kNone,
           0, "HEAD"),
        ok("has_no_body_for_304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
           kNone),
        ok("has_no_body_for_204", "HTTP/1.1 204 No Content\r\n\r\n", kNone),
        ok("accepts_204_with_zero_content_length",
           "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", kNone),
        ok("has_no_body_for_100", "HTTP/1.1 100 Continue\r\n\r\n", kNone),
        ok("has_no_body_for_101",
           "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
           kNone),
        ok("has_no_body_for_2xx_to_connect", "HTTP/1.1 200 Connection Established\r\n\r\n", kNone,
           0, "CONNECT"),
        ok("frames_non_2xx_to_connect", "HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n", kLength,
           3, "CONNECT"),
        ok("does_not_keep_http10_alive_by_default", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
           kLength, 1, "GET", false),
        ok("keeps_http10_alive_when_asked",
           "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", kLength, 1),
        ok("closes_on_connection_close", ok_with("Content-Length: 1\r\nConnection: close\r\n"),
           kLength, 1, "GET", false),

        // Status line (RFC 9112 4).
        ok("accepts_status_line_without_reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
           kLength),
        ok("accepts_empty_reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", kLength),
        ok("accepts_reason_with_spaces_and_obs_text",
           "HTTP/1.1 200 Tr\xc3\xa8s bien\tok\r\nContent-Length: 0\r\n\r\n", kLength),
        ok("accepts_status_599", "HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", kLength),
        bad("rejects_status_below_100", "HTTP/1.1 099 X\r\n\r\n"),
        bad("rejects_status_600", "HTTP/1.1 600 X\r\n\r\n"),
        bad("rejects_two_digit_status", "HTTP/1.1 20 OK\r\n\r\n"),
        bad("rejects_four_digit_status", "HTTP/1.1 2000 OK\r\n\r\n"),
        bad("rejects_missing_space_after_version", "HTTP/1.1200 OK\r\n\r\n"),
        bad("rejects_tab_after_status", "HTTP/1.1 200\tOK\r\n\r\n"),
        bad("rejects_http2_status_line", "HTTP/2.0 200 OK\r\n\r\n"),
        bad("rejects_lowercase_version", "http/1.1 200 OK\r\n\r\n"),
        bad("rejects_control_byte_in_reason", "HTTP/1.1 200 O\x01K\r\n\r\n"),
        bad("rejects_bare_cr_in_reason", "HTTP/1.1 200 O\rK\r\n\r\n"),

        // Ambiguous framing a proxy must not forward.
        bad("rejects_content_length_with_transfer_encoding",
            ok_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")),
        bad("rejects_content_length_with_transfer_encoding_even_for_head",
            ok_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), "HEAD"),
        bad("rejects_differing_content_lengths",
            ok_with("Content-Length: 5\r\nContent-Length: 6\r\n")),
        bad("rejects_content_length_with_plus_sign", ok_with("Content-Length: +5\r\n")),
        bad("rejects_hex_content_length", ok_with("Content-Length: 0x5\r\n")),
        bad("rejects_content_length_with_inner_space", ok_with("Content-Length: 5 5\r\n")),
        bad("rejects_gzip_transfer_coding", ok_with("Transfer-Encoding: gzip\r\n")),
        bad("rejects_gzip_then_chunked", ok_with("Transfer-Encoding: gzip, chunked\r\n")),
        bad("rejects_chunked_not_last", ok_with("Transfer-Encoding: chunked, gzip\r\n")),
        bad("rejects_chunked_twice", ok_with("Transfer-Encoding: chunked, chunked\r\n")),
        bad("rejects_identity_transfer_coding", ok_with("Transfer-Encoding: identity\r\n")),
        bad("rejects_transfer_encoding_in_http10",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        bad("rejects_transfer_encoding_space_before_colon",
            ok_with("Transfer-Encoding : chunked\r\n")),
        bad("rejects_204_with_transfer_encoding",
            "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"),
        bad("rejects_204_with_content_length",
            "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"),
        bad("rejects_1xx_with_content_length",
            "HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\n"),

        // Field lines.
        bad("rejects_obs_fold", ok_with("X-A: a\r\n b\r\n")),
        bad("rejects_nul_in_field_value", ok_with("X-A: a\0b\r\n"s)),
        bad("rejects_bare_cr_in_field_value", ok_with("X-A: a\rb\r\n")),
        bad("rejects_cr_cr_lf", "HTTP/1.1 200 OK\r\nX-A: a\r\r\n\r\n"),
        bad("rejects_bare_lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        bad("rejects_space_before_colon", ok_with("Content-Length : 0\r\n")),
        bad("rejects_empty_field_name", ok_with(": x\r\n")),
        bad("rejects_too_many_fields",
            [] {
                std::string s;
                for (int i = 0; i < 101; ++i) {
                    s += "X-" + std::to_string(i) + ": v\r\n";
                }
                return ok_with(s);
            }()),
        bad("rejects_large_head", ok_with("X-Big: " + std::string(70000, 'a') + "\r\n")),
    };
}

class ResponseConformance : public ::testing::TestWithParam<Row> {};

TEST_P(ResponseConformance, Parses) {
    const Row& row = GetParam();
    ResponseHead head;
    const ParseResult r = parse_response_head(row.raw, ParserLimits{}, row.method, head);
    if (row.complete) {
        ASSERT_EQ(r.kind, ParseResult::Kind::complete) << r.error.reason;
        EXPECT_EQ(r.consumed, row.raw.size());
        EXPECT_EQ(head.framing, row.framing);
        EXPECT_EQ(head.content_length, row.content_length);
        EXPECT_EQ(head.keep_alive, row.keep_alive);
    } else {
        ASSERT_EQ(r.kind, ParseResult::Kind::error);
        EXPECT_EQ(r.error.status, 502) << r.error.reason;
        EXPECT_FALSE(r.error.reason.empty());
    }
}

INSTANTIATE_TEST_SUITE_P(Rfc9112, ResponseConformance, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& row) { return row.param.name; });

}  // namespace
}  // namespace usher::http::h1
