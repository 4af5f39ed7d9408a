// Fuzz target for parse_request_head. The first byte picks parser options; the rest is the
// buffer. Invariants (trap on violation): consumed stays inside the buffer, every view points into
// it, error statuses are the documented ones, and parsing is prefix-consistent (a prefix that
// parses complete gives exactly the head the whole buffer gives).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/h1/parser.hpp"

namespace {

using usher::http::RequestHead;
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

void check_result(std::string_view buf, const ParseResult& r, const RequestHead& head) {
    switch (r.kind) {
        case ParseResult::Kind::complete:
            check(r.consumed > 0 && r.consumed <= buf.size());
            check(buf.substr(0, r.consumed).ends_with("\n"));
            check(inside(buf, head.method) && inside(buf, head.target));
            check(inside(buf, head.authority));
            check(inside(buf, head.path) || head.path == "/");
            check(!head.method.empty() && !head.target.empty() && !head.path.empty());
            for (const auto& field : head.headers) {
                check(inside(buf, field.name) && inside(buf, field.value) && !field.name.empty());
            }
            break;
        case ParseResult::Kind::incomplete:
            check(r.consumed == 0);
            break;
        case ParseResult::Kind::error: {
            const auto s = r.error.status;
            check(s == 400 || s == 414 || s == 431 || s == 501 || s == 505);
            check(!r.error.reason.empty());
            break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    ParserLimits limits;
    limits.allow_bare_lf = (data[0] & 1) != 0;
    if ((data[0] & 2) != 0) {  // small limits reach the 414/431 paths
        limits.max_request_line = 16 + (data[0] >> 3);
        limits.max_header_bytes = 64 + 4 * static_cast<std::size_t>(data[0]);
        limits.max_header_count = 1 + (data[0] >> 5);
    }
    const std::string_view buf(reinterpret_cast<const char*>(data + 1), size - 1);

    RequestHead whole;
    const ParseResult r = usher::http::h1::parse_request_head(buf, limits, whole);
    check_result(buf, r, whole);

    // Prefix consistency at a split point chosen by the input itself.
    const std::size_t split = buf.empty() ? 0 : (data[0] * 131U) % buf.size();
    RequestHead part;
    const ParseResult p = usher::http::h1::parse_request_head(buf.substr(0, split), limits, part);
    check_result(buf.substr(0, split), p, part);
    if (p.ok()) {
        check(r.ok() && r.consumed == p.consumed);
        check(whole.method == part.method && whole.target == part.target);
        check(whole.framing == part.framing && whole.content_length == part.content_length);
        check(whole.keep_alive == part.keep_alive && whole.headers.size() == part.headers.size());
    }
    if (r.ok()) {
        // The head alone parses the same, and one byte less is never complete.
        RequestHead again;
        check(usher::http::h1::parse_request_head(buf.substr(0, r.consumed), limits, again).ok());
        check(again.framing == whole.framing && again.authority == whole.authority);
        check(!usher::http::h1::parse_request_head(buf.substr(0, r.consumed - 1), limits, again)
                   .ok());
    }
    return 0;
}
