// Fuzz target for parse_response_head. The first byte picks the request method and parser
// options; the rest is the buffer. Invariants as in request_parser_fuzz.cpp, plus: errors are
// always 502, and framing agrees with the status (RFC 9112 6.3).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/h1/parser.hpp"

namespace {

using usher::http::BodyFraming;
using usher::http::ResponseHead;
using usher::http::h1::ParseResult;
using usher::http::h1::ParserLimits;

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool inside(std::string_view buf, std::string_view v) {
    return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

void check_result(std::string_view buf, std::string_view method, const ParseResult& r,
                  const ResponseHead& head) {
    switch (r.kind) {
        case ParseResult::Kind::complete:
            check(r.consumed > 0 && r.consumed <= buf.size());
            check(head.status >= 100 && head.status <= 599);
            check(inside(buf, head.reason));
            for (const auto& field : head.headers) {
                check(inside(buf, field.name) && inside(buf, field.value) && !field.name.empty());
            }
            if (head.status < 200 || head.status == 204 || head.status == 304 || method == "HEAD") {
                check(head.framing == BodyFraming::none);
            }
            if (head.framing == BodyFraming::until_close) {
                check(!head.keep_alive);
            }
            break;
        case ParseResult::Kind::incomplete:
            check(r.consumed == 0);
            break;
        case ParseResult::Kind::error:
            check(r.error.status == 502 && !r.error.reason.empty());
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static constexpr std::array<std::string_view, 4> kMethods = {"GET", "HEAD", "CONNECT", "POST"};
    const std::string_view method = kMethods[data[0] & 3];
    ParserLimits limits;
    limits.allow_bare_lf = (data[0] & 4) != 0;
    if ((data[0] & 8) != 0) {
        limits.max_request_line = 16 + (data[0] >> 4);
        limits.max_header_bytes = 64 + 4 * static_cast<std::size_t>(data[0]);
        limits.max_header_count = 1 + (data[0] >> 5);
    }
    const std::string_view buf(reinterpret_cast<const char*>(data + 1), size - 1);

    ResponseHead whole;
    const ParseResult r = usher::http::h1::parse_response_head(buf, limits, method, whole);
    check_result(buf, method, r, whole);

    const std::size_t split = buf.empty() ? 0 : (data[0] * 131U) % buf.size();
    ResponseHead part;
    const ParseResult p =
        usher::http::h1::parse_response_head(buf.substr(0, split), limits, method, part);
    check_result(buf.substr(0, split), method, p, part);
    if (p.ok()) {
        check(r.ok() && r.consumed == p.consumed && whole.status == part.status);
        check(whole.framing == part.framing && whole.content_length == part.content_length);
    }
    if (r.ok()) {
        ResponseHead again;
        check(!usher::http::h1::parse_response_head(buf.substr(0, r.consumed - 1), limits, method,
                                                    again)
                   .ok());
    }
    return 0;
}
