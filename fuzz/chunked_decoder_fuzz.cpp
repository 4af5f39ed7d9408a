// Fuzz target for ChunkedDecoder. The first byte picks the trailer limit; the rest is a chunked
// body. Invariants: steps stay inside their input, data views point into it, and decoding the
// input whole gives the same outcome, payload, trailers and consumed count as feeding it one byte
// at a time (the way a slow client delivers it).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1/parser.hpp"

namespace {

using usher::http::h1::ChunkedDecoder;
using Kind = ChunkedDecoder::Step::Kind;

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

struct Outcome {
    Kind end = Kind::need_more;
    std::string payload;
    std::string trailers;
    std::size_t consumed = 0;
};

void check_step(std::string_view input, const ChunkedDecoder::Step& step) {
    check(step.consumed <= input.size());
    if (step.kind == Kind::data) {
        check(!step.data.empty() && step.data.data() >= input.data() &&
              step.data.data() + step.data.size() == input.data() + step.consumed);
    } else {
        check(step.data.empty());
    }
    if (step.kind == Kind::done) {
        check(step.trailers.empty() ||
              (step.trailers.data() >= input.data() &&
               step.trailers.data() + step.trailers.size() <= input.data() + step.consumed));
    }
    if (step.kind == Kind::error) {
        check(step.error.status == 400 && !step.error.reason.empty());
    }
}

Outcome decode_whole(std::string_view input, std::size_t max_trailers) {
    ChunkedDecoder decoder(max_trailers);
    Outcome out;
    for (;;) {
        const std::string_view rest = input.substr(out.consumed);
        const ChunkedDecoder::Step step = decoder.decode(rest);
        check_step(rest, step);
        out.consumed += step.consumed;
        out.payload.append(step.data);
        if (step.kind != Kind::data) {
            out.end = step.kind;
            out.trailers = std::string(step.trailers);
            check(decoder.finished() == (step.kind == Kind::done));
            return out;
        }
    }
}

Outcome decode_bytewise(std::string_view input, std::size_t max_trailers) {
    ChunkedDecoder decoder(max_trailers);
    Outcome out;
    std::string pending;
    for (char c : input) {
        pending.push_back(c);
        for (;;) {
            const ChunkedDecoder::Step step = decoder.decode(pending);
            check_step(pending, step);
            out.payload.append(step.data);
            out.trailers = std::string(step.trailers);
            pending.erase(0, step.consumed);
            out.consumed += step.consumed;
            if (step.kind == Kind::need_more) {
                break;
            }
            if (step.kind != Kind::data) {
                out.end = step.kind;
                return out;
            }
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t max_trailers = static_cast<std::size_t>(data[0]) * 4;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    const Outcome whole = decode_whole(input, max_trailers);
    const Outcome bytes = decode_bytewise(input, max_trailers);
    check(whole.end == bytes.end);
    check(whole.payload == bytes.payload);
    if (whole.end == Kind::done) {
        check(whole.consumed == bytes.consumed && whole.trailers == bytes.trailers);
    }
    if (whole.end != Kind::error) {
        check(whole.consumed == bytes.consumed);
    }
    return 0;
}
