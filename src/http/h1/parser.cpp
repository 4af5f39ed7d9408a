// HTTP/1.1 request and response head parsers (RFC 9112 sections 2-6), strict where a proxy must
// be: anything that could make two parsers disagree on where a message ends is an error.
//
// One pass over the head: memchr finds each line end, a 256-entry table validates each byte, and
// the fields that decide framing (Content-Length, Transfer-Encoding, Host, Connection, Expect,
// Upgrade) are interpreted as they are added, so nothing is looked up again afterwards.
#include "http/h1/parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "http/h1/head_facts.hpp"
#include "http/h1/syntax.hpp"

namespace usher::http::h1 {
namespace {

using namespace syntax;

// RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line.
constexpr std::size_t kMaxLeadingEmptyLines = 4;

ParseResult fail(std::uint16_t status, std::string_view reason) noexcept {
    ParseResult r;
    r.kind = ParseResult::Kind::error;
    r.error = {status, reason};
    return r;
}

// a + b without wrapping, so "unlimited" limits (SIZE_MAX) work.
std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
    return b > std::numeric_limits<std::size_t>::max() - a ? std::numeric_limits<std::size_t>::max()
                                                           : a + b;
}

ParseResult complete(std::size_t consumed) noexcept {
    ParseResult r;
    r.kind = ParseResult::Kind::complete;
    r.consumed = consumed;
    return r;
}

enum class LineStatus : std::uint8_t { ok, incomplete, bare_lf };

struct Line {
    std::string_view text;  // without the line ending
    std::size_t next = 0;   // index just past the line ending
};

// Finds the line starting at `pos`, searching no further than `limit`.
LineStatus next_line(std::string_view buf, std::size_t pos, std::size_t limit, bool allow_bare_lf,
                     Line& out) noexcept {
    if (pos >= limit) {
        return LineStatus::incomplete;
    }
    const void* hit = std::memchr(buf.data() + pos, '\n', limit - pos);
    if (hit == nullptr) {
        return LineStatus::incomplete;
    }
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(hit) - buf.data());
    std::size_t end = lf;
    if (lf > pos && buf[lf - 1] == '\r') {
        end = lf - 1;
    } else if (!allow_bare_lf) {
        return LineStatus::bare_lf;
    }
    out.text = buf.substr(pos, end - pos);
    out.next = lf + 1;
    return LineStatus::ok;
}

// Skips the empty lines RFC 9112 2.2 lets a recipient ignore. Returns the start of the first line,
// `buf.size() + 1` when more input is needed to decide, or npos when there are too many.
std::size_t skip_leading_empty_lines(std::string_view buf, bool allow_bare_lf) noexcept {
    std::size_t pos = 0;
    for (std::size_t n = 0;; ++n) {
        std::size_t len = 0;
        if (pos < buf.size() && buf[pos] == '\r') {
            if (pos + 1 == buf.size()) {
                return buf.size() + 1;
            }
            len = buf[pos + 1] == '\n' ? 2 : 0;
        } else if (pos < buf.size() && buf[pos] == '\n' && allow_bare_lf) {
            len = 1;
        }
        if (len == 0) {
            return pos;
        }
        if (n == kMaxLeadingEmptyLines) {
            return std::string_view::npos;
        }
        pos += len;
    }
}

// Reads the start line of a head beginning at `start`, applying the line and head size limits.
ParseResult read_start_line(std::string_view buf, std::size_t start, const ParserLimits& limits,
                            Line& line) noexcept {
    const std::size_t head_limit = saturating_add(start, limits.max_header_bytes);
    const std::size_t line_limit =
        saturating_add(start, saturating_add(limits.max_request_line, 2));
    const std::size_t search_end = std::min({buf.size(), head_limit, line_limit});
    switch (next_line(buf, start, search_end, limits.allow_bare_lf, line)) {
        case LineStatus::bare_lf:
            return fail(400, "bare LF line ending");
        case LineStatus::incomplete: {
            const std::size_t avail = buf.size() - start;
            const std::size_t max = limits.max_request_line;
            if (avail > max && (avail - max > 1 || buf.back() != '\r')) {
                return fail(414, "start line too long");
            }
            if (buf.size() > head_limit) {
                return fail(431, "head too large");
            }
            return ParseResult::incomplete_();
        }
        case LineStatus::ok:
            break;
    }
    if (line.text.size() > limits.max_request_line) {
        return fail(414, "start line too long");
    }
    return complete(line.next);
}

// Parses the field lines from `pos` through the empty line that ends the head.
ParseResult parse_fields(std::string_view buf, std::size_t start, std::size_t pos,
                         const ParserLimits& limits, HeaderMap& headers, HeadFacts& facts) {
    const std::size_t head_limit = saturating_add(start, limits.max_header_bytes);
    const std::size_t search_end = std::min(buf.size(), head_limit);
    for (;;) {
        Line line;
        switch (next_line(buf, pos, search_end, limits.allow_bare_lf, line)) {
            case LineStatus::bare_lf:
                return fail(400, "bare LF line ending");
            case LineStatus::incomplete:
                return buf.size() > head_limit ? fail(431, "head too large")
                                               : ParseResult::incomplete_();
            case LineStatus::ok:
                break;
        }
        if (line.text.empty()) {
            return complete(line.next);
        }
        if (headers.size() >= limits.max_header_count) {
            return fail(431, "too many header fields");
        }
        const FieldLine field = parse_field_line(line.text);
        if (!field.error.empty()) {
            return fail(400, field.error);
        }
        headers.add(field.name, field.value);
        if (const std::string_view error = note_field(field, facts); !error.empty()) {
            return fail(400, error);
        }
        pos = line.next;
    }
}

enum class VersionCheck : std::uint8_t { http10, http11, unsupported, malformed };

// `HTTP/` DIGIT `.` DIGIT, case-sensitive (RFC 9112 2.3).
VersionCheck check_version(std::string_view v) noexcept {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7])) {
        return VersionCheck::malformed;
    }
    if (v[5] == '1' && v[7] == '1') {
        return VersionCheck::http11;
    }
    if (v[5] == '1' && v[7] == '0') {
        return VersionCheck::http10;
    }
    return VersionCheck::unsupported;
}

// uri-host [":" port] (RFC 9110 7.2); `port_required` for the authority-form of CONNECT.
bool valid_host(std::string_view host, bool port_required) noexcept {
    std::size_t i = 0;
    if (!host.empty() && host.front() == '[') {  // IP-literal
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos || close < 3 ||
            !std::all_of(host.begin() + 1, host.begin() + static_cast<std::ptrdiff_t>(close),
                         [](char c) { return is(c, kHexDigit) || c == ':' || c == '.'; })) {
            return false;
        }
        i = close + 1;
    } else {
        while (i < host.size() && is(host[i], kHost)) {
            ++i;
        }
        if (i == 0) {
            return false;
        }
    }
    if (i == host.size()) {
        return !port_required;
    }
    if (host[i] != ':') {
        return false;
    }
    const std::string_view port = host.substr(i + 1);
    return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           (!port_required || !port.empty());
}

// Derives `path` and `authority` from the request-target form (RFC 9112 3.2).
std::string_view derive_target(RequestHead& out, const HeadFacts& facts) {
    const std::string_view target = out.target;
    if (out.method == "CONNECT") {  // authority-form, and only for CONNECT
        if (!valid_host(target, true)) {
            return "invalid CONNECT target";
        }
        out.path = target;
        out.authority = target;
        return {};
    }
    if (target.front() == '/') {  // origin-form
        out.path = target;
        out.authority = facts.host;
        return {};
    }
    if (target == "*") {  // asterisk-form
        if (out.method != "OPTIONS") {
            return "asterisk-form target outside OPTIONS";
        }
        out.path = target;
        out.authority = facts.host;
        return {};
    }
    // absolute-form: only http and https URIs are proxied.
    std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !(iequals(target.substr(0, scheme_end), "http") ||
                                                  iequals(target.substr(0, scheme_end), "https"))) {
        return "invalid request target";
    }
    const std::string_view rest = target.substr(scheme_end + 3);
    const std::size_t path_start = std::min(rest.find('/'), rest.size());
    const std::string_view authority = rest.substr(0, path_start);
    if (rest.find('?') < path_start) {
        return "absolute-form target with query but no path";
    }
    if (!valid_host(authority, false)) {
        return "invalid authority in request target";
    }
    if (facts.host_count != 0 && !iequals(facts.host, authority)) {
        return "Host does not match the target authority";
    }
    out.authority = authority;
    out.path = path_start == rest.size() ? std::string_view("/") : rest.substr(path_start);
    return {};
}

// The rules that need the whole request head: framing (RFC 9112 6.1, 6.3), Host (RFC 9112 3.2).
ParseResult finish_request(RequestHead& out, HeadFacts& facts, std::size_t consumed) {
    const bool http11 = out.version == Version::http11;
    if (facts.has_transfer_encoding) {
        if (!http11) {
            return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        }
        if (facts.has_content_length) {
            return fail(400, "Content-Length with Transfer-Encoding");
        }
        if (!facts.transfer_encoding_error.empty()) {
            return fail(400, facts.transfer_encoding_error);
        }
        if (facts.unknown_coding) {
            return fail(501, "unsupported transfer coding");
        }
        out.framing = BodyFraming::chunked;
    } else if (facts.has_content_length) {
        out.framing = BodyFraming::content_length;
        out.content_length = facts.content_length;
        collapse_content_length(out.headers, facts);
    }
    if (facts.host_count > 1) {
        return fail(400, "duplicate Host");
    }
    if (facts.host_count == 0 && http11) {
        return fail(400, "missing Host");
    }
    if (facts.host_count == 1 && !valid_host(facts.host, false)) {
        return fail(400, "invalid Host");
    }
    if (const std::string_view error = derive_target(out, facts); !error.empty()) {
        return fail(400, error);
    }
    out.keep_alive = !facts.close && (http11 || facts.keep_alive);
    out.expect_continue = http11 && facts.expect_continue;
    out.upgrade = http11 && facts.connection_upgrade && facts.has_upgrade;
    return complete(consumed);
}

ParseResult parse_request_line(std::string_view line, RequestHead& out) {
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) {
        return fail(400, "malformed request line");
    }
    out.method = line.substr(0, sp1);
    if (!all_of(out.method, kToken)) {
        return fail(400, "invalid method");
    }
    const std::string_view rest = line.substr(sp1 + 1);
    const std::size_t sp2 = rest.find(' ');
    if (sp2 == std::string_view::npos || sp2 == 0) {
        return fail(400, "malformed request line");
    }
    out.target = rest.substr(0, sp2);
    if (!valid_target(out.target)) {
        return fail(400, "invalid character in request target");
    }
    switch (check_version(rest.substr(sp2 + 1))) {
        case VersionCheck::http11:
            out.version = Version::http11;
            break;
        case VersionCheck::http10:
            out.version = Version::http10;
            break;
        case VersionCheck::unsupported:
            return fail(505, "unsupported HTTP version");
        case VersionCheck::malformed:
            return fail(400, "malformed HTTP version");
    }
    return complete(0);
}

// `HTTP-version SP 3DIGIT [SP reason-phrase]`: the SP and reason are optional here (tolerance
// for backends that send "HTTP/1.1 200"); RFC 9112 4 requires the SP.
ParseResult parse_status_line(std::string_view line, ResponseHead& out) {
    switch (check_version(line.substr(0, 8))) {
        case VersionCheck::http11:
            out.version = Version::http11;
            break;
        case VersionCheck::http10:
            out.version = Version::http10;
            break;
        case VersionCheck::unsupported:
            return fail(505, "unsupported HTTP version");
        case VersionCheck::malformed:
            return fail(400, "malformed status line");
    }
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (line.size() < 12 || line[8] != ' ' || !digit(line[9]) || !digit(line[10]) ||
        !digit(line[11]) || (line.size() > 12 && line[12] != ' ')) {
        return fail(400, "malformed status line");
    }
    out.status = static_cast<std::uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 +
                                            (line[11] - '0'));
    if (out.status < 100 || out.status > 599) {
        return fail(400, "status code out of range");
    }
    out.reason = line.size() > 12 ? line.substr(13) : std::string_view();
    if (!all_of(out.reason, kFieldValue)) {
        return fail(400, "invalid character in reason phrase");
    }
    return complete(0);
}

// Response framing (RFC 9112 6.3), rejecting what a proxy must not forward.
ParseResult finish_response(ResponseHead& out, HeadFacts& facts, std::string_view request_method,
                            std::size_t consumed) {
    const std::uint16_t status = out.status;
    if (facts.has_transfer_encoding) {
        if (out.version == Version::http10) {
            return fail(502, "Transfer-Encoding in an HTTP/1.0 response");
        }
        if (facts.has_content_length) {
            return fail(502, "Content-Length with Transfer-Encoding");
        }
        if (!facts.transfer_encoding_error.empty()) {
            return fail(502, facts.transfer_encoding_error);
        }
        if (facts.unknown_coding) {
            return fail(502, "unsupported transfer coding");
        }
    }
    collapse_content_length(out.headers, facts);
    out.keep_alive = !facts.close && (out.version == Version::http11 || facts.keep_alive);
    if (status < 200 || status == 204) {
        if (facts.has_transfer_encoding || facts.content_length != 0) {
            return fail(502, "body framing on a 1xx or 204 response");
        }
        out.framing = BodyFraming::none;
    } else if (status == 304 || request_method == "HEAD" ||
               (request_method == "CONNECT" && status < 300)) {
        out.framing = BodyFraming::none;
    } else if (facts.has_transfer_encoding) {
        out.framing = BodyFraming::chunked;
    } else if (facts.has_content_length) {
        out.framing = BodyFraming::content_length;
        out.content_length = facts.content_length;
    } else {
        out.framing = BodyFraming::until_close;
        out.keep_alive = false;
    }
    return complete(consumed);
}

// Shared skeleton: leading empty lines, start line, field lines, then `finish`.
template <typename Head, typename StartLine, typename Finish>
ParseResult parse_head(std::string_view buf, const ParserLimits& limits, Head& out,
                       StartLine&& parse_start, Finish&& finish) {
    out.clear();
    const std::size_t start = skip_leading_empty_lines(buf, limits.allow_bare_lf);
    if (start == std::string_view::npos) {
        return fail(400, "too many empty lines before the start line");
    }
    if (start > buf.size()) {
        return ParseResult::incomplete_();
    }
    Line line;
    ParseResult r = read_start_line(buf, start, limits, line);
    if (!r.ok()) {
        return r;
    }
    r = parse_start(line.text, out);
    if (!r.ok()) {
        return r;
    }
    HeadFacts facts;
    r = parse_fields(buf, start, line.next, limits, out.headers, facts);
    if (!r.ok()) {
        return r;
    }
    return finish(out, facts, r.consumed);
}

}  // namespace

ParseResult parse_request_head(std::string_view buf, const ParserLimits& limits, RequestHead& out) {
    return parse_head(buf, limits, out, parse_request_line, finish_request);
}

ParseResult parse_response_head(std::string_view buf, const ParserLimits& limits,
                                std::string_view request_method, ResponseHead& out) {
    ParseResult r =
        parse_head(buf, limits, out, parse_status_line,
                   [request_method](ResponseHead& head, HeadFacts& facts, std::size_t consumed) {
                       return finish_response(head, facts, request_method, consumed);
                   });
    if (r.kind == ParseResult::Kind::error) {
        r.error.status = 502;  // whatever the cause, a bad response is a bad gateway
    }
    return r;
}

}  // namespace usher::http::h1
