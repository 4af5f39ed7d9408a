// ChunkedDecoder: the chunked transfer coding (RFC 9112 7.1), strict. A size line or the trailer
// section is only consumed once it is complete, so the decoder needs no buffer of its own and
// gives the same result whether input arrives whole or one byte at a time.
#include <algorithm>
#include <cstring>
#include <limits>

#include "http/h1/parser.hpp"
#include "http/h1/syntax.hpp"

namespace usher::http::h1 {
namespace {

using namespace syntax;

// A chunk-size line (size and extensions) longer than this is rejected: extensions are dropped
// anyway and this bounds what a caller buffers before the decoder makes progress.
constexpr std::size_t kMaxChunkLineBytes = 4 * 1024;
constexpr std::uint64_t kMaxChunkSize = std::numeric_limits<std::int64_t>::max();

std::size_t skip_ows(std::string_view s, std::size_t i) noexcept {
    while (i < s.size() && is_ows(s[i])) {
        ++i;
    }
    return i;
}

std::size_t skip_token(std::string_view s, std::size_t i) noexcept {
    while (i < s.size() && is(s[i], kToken)) {
        ++i;
    }
    return i;
}

// quoted-string starting at s[i] == '"'; returns the index after the closing quote or npos.
std::size_t skip_quoted_string(std::string_view s, std::size_t i) noexcept {
    for (++i; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '"') {
            return i + 1;
        }
        if (c == '\\') {
            ++i;
            if (i == s.size() || !is(s[i], kFieldValue)) {
                return std::string_view::npos;
            }
        } else if (!is(c, kFieldValue)) {
            return std::string_view::npos;
        }
    }
    return std::string_view::npos;
}

// chunk-size [ chunk-ext ] where chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ).
// Returns an error reason, or empty with `size` set.
std::string_view parse_size_line(std::string_view line, std::uint64_t& size) noexcept {
    std::size_t i = 0;
    std::uint64_t v = 0;
    for (; i < line.size() && is(line[i], kHexDigit); ++i) {
        if (v > (kMaxChunkSize >> 4)) {
            return "chunk size too large";
        }
        const char c = line[i];
        const int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    if (i == 0) {
        return "invalid chunk size";
    }
    while (i < line.size()) {
        std::size_t j = skip_ows(line, i);
        if (j == line.size() || line[j] != ';') {
            return "invalid chunk extension";
        }
        j = skip_ows(line, j + 1);
        const std::size_t name_end = skip_token(line, j);
        if (name_end == j) {
            return "invalid chunk extension";
        }
        i = name_end;
        j = skip_ows(line, name_end);
        if (j < line.size() && line[j] == '=') {
            j = skip_ows(line, j + 1);
            if (j < line.size() && line[j] == '"') {
                i = skip_quoted_string(line, j);
                if (i == std::string_view::npos) {
                    return "invalid chunk extension";
                }
            } else {
                i = skip_token(line, j);
                if (i == j) {
                    return "invalid chunk extension";
                }
            }
        }
    }
    size = v;
    return {};
}

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::decode(std::string_view input) noexcept {
    Step step;
    const auto fail = [&](std::string_view reason) {
        state_ = State::failed;
        step.kind = Step::Kind::error;
        step.error = {400, reason};
        step.data = {};
        return step;
    };
    std::size_t pos = 0;
    for (;;) {
        step.consumed = pos;
        switch (state_) {
            case State::size: {
                const std::size_t window = std::min(input.size() - pos, kMaxChunkLineBytes);
                const void* hit = std::memchr(input.data() + pos, '\n', window);
                if (hit == nullptr) {
                    if (window == kMaxChunkLineBytes) {
                        return fail("chunk size line too long");
                    }
                    return step;  // need_more
                }
                const auto lf =
                    static_cast<std::size_t>(static_cast<const char*>(hit) - input.data());
                if (lf == pos || input[lf - 1] != '\r') {
                    return fail("bare LF in chunked body");
                }
                if (const std::string_view error =
                        parse_size_line(input.substr(pos, lf - 1 - pos), remaining_);
                    !error.empty()) {
                    return fail(error);
                }
                pos = lf + 1;
                state_ = remaining_ == 0 ? State::trailers : State::data;
                break;
            }
            case State::data: {
                const std::size_t n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(remaining_, input.size() - pos));
                if (n == 0) {
                    return step;  // need_more
                }
                remaining_ -= n;
                if (remaining_ == 0) {
                    state_ = State::data_crlf;
                }
                step.kind = Step::Kind::data;
                step.data = input.substr(pos, n);
                step.consumed = pos + n;
                return step;
            }
            case State::data_crlf: {
                const std::string_view crlf = input.substr(pos, 2);
                if (crlf != std::string_view("\r\n", crlf.size())) {
                    return fail("missing CRLF after chunk data");
                }
                if (crlf.size() < 2) {
                    return step;  // need_more
                }
                pos += 2;
                state_ = State::size;
                break;
            }
            case State::trailers:
                return decode_trailers(input, pos);
            case State::done:
                step.kind = Step::Kind::done;
                return step;
            case State::failed:
                return fail("chunked decoder already failed");
        }
    }
}

// Trailer section (RFC 9112 7.1.2): field lines then CRLF, parsed from `pos` on every call and
// consumed only once complete, so `trailers` is one view of all of them.
ChunkedDecoder::Step ChunkedDecoder::decode_trailers(std::string_view input,
                                                     std::size_t pos) noexcept {
    Step step;
    step.consumed = pos;
    const std::size_t limit = max_trailer_bytes_ > input.size()
                                  ? input.size()
                                  : std::min(input.size(), pos + max_trailer_bytes_ + 2);
    for (std::size_t p = pos;;) {
        const void* hit = p < limit ? std::memchr(input.data() + p, '\n', limit - p) : nullptr;
        if (hit == nullptr) {
            const std::size_t avail = input.size() - pos;
            if (avail > max_trailer_bytes_ && avail - max_trailer_bytes_ >= 2) {
                break;  // too large
            }
            return step;  // need_more
        }
        const auto lf = static_cast<std::size_t>(static_cast<const char*>(hit) - input.data());
        if (lf == p || input[lf - 1] != '\r') {
            step.error = {400, "bare LF in trailer section"};
            state_ = State::failed;
            step.kind = Step::Kind::error;
            return step;
        }
        const std::string_view line = input.substr(p, lf - 1 - p);
        if (line.empty()) {
            state_ = State::done;
            step.kind = Step::Kind::done;
            step.trailers = input.substr(pos, p - pos);
            step.consumed = lf + 1;
            return step;
        }
        if (const FieldLine field = parse_field_line(line); !field.error.empty()) {
            step.error = {400, field.error};
            state_ = State::failed;
            step.kind = Step::Kind::error;
            return step;
        }
        p = lf + 1;
        if (p - pos > max_trailer_bytes_) {
            break;
        }
    }
    state_ = State::failed;
    step.kind = Step::Kind::error;
    step.error = {400, "trailer section too large"};
    return step;
}

void ChunkedDecoder::reset() noexcept {
    state_ = State::size;
    remaining_ = 0;
}

bool ChunkedDecoder::finished() const noexcept {
    return state_ == State::done;
}

}  // namespace usher::http::h1
