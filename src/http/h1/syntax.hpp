#pragma once
// Character classes and field-line syntax shared by the HTTP/1 head parsers and the chunked
// decoder's trailer section. Internal to src/http/h1: nothing outside this folder includes it.
//
// Every check is a lookup in a 256-entry constexpr table, so validating a byte costs one load.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace usher::http::h1::syntax {

// Bit flags of kCharClass.
inline constexpr std::uint8_t kToken = 1;       // tchar (RFC 9110 5.6.2)
inline constexpr std::uint8_t kFieldValue = 2;  // field-vchar / SP / HTAB (no CTL, no DEL)
inline constexpr std::uint8_t kTarget = 4;      // printable ASCII except SP and '#'
inline constexpr std::uint8_t kHost = 8;        // reg-name / IPv4: unreserved, pct, sub-delims
inline constexpr std::uint8_t kHexDigit = 16;

constexpr std::array<std::uint8_t, 256> make_char_class() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        std::uint8_t f = 0;
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool digit = c >= '0' && c <= '9';
        if (alpha || digit ||
            std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                std::string_view::npos) {
            f |= kToken;
        }
        if ((c >= 0x20 && c != 0x7f) || c == '\t') {
            f |= kFieldValue;
        }
        if (c > 0x20 && c < 0x7f && c != '#') {
            f |= kTarget;
        }
        if (alpha || digit ||
            std::string_view("-._~%!$&'()*+,;=").find(static_cast<char>(c)) !=
                std::string_view::npos) {
            f |= kHost;
        }
        if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            f |= kHexDigit;
        }
        t[static_cast<std::size_t>(c)] = f;
    }
    return t;
}

inline constexpr std::array<std::uint8_t, 256> kCharClass = make_char_class();

inline bool is(char c, std::uint8_t cls) noexcept {
    return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}

// True when every byte of `s` belongs to `cls`.
inline bool all_of(std::string_view s, std::uint8_t cls) noexcept {
    for (char c : s) {
        if (!is(c, cls)) {
            return false;
        }
    }
    return true;
}

// SWAR helpers: test 8 bytes per step for the bytes that are never valid, then fall back to the
// table for the word that holds one (rare: HTAB in a value, or a real error).
inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
// Non-zero when some byte of `x` is < n (n <= 128).
inline std::uint64_t has_less(std::uint64_t x, std::uint8_t n) noexcept {
    return (x - kOnes * n) & ~x & kHighBits;
}
// Non-zero when some byte of `x` equals b.
inline std::uint64_t has_byte(std::uint64_t x, std::uint8_t b) noexcept {
    const std::uint64_t y = x ^ (kOnes * b);
    return (y - kOnes) & ~y & kHighBits;
}

// field-value bytes: VCHAR, obs-text, SP, HTAB (RFC 9110 5.5).
inline bool valid_field_value(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        const std::uint64_t x = load8(s.data() + i);
        if ((has_less(x, 0x20) | has_byte(x, 0x7f)) != 0) {
            break;
        }
    }
    return all_of(s.substr(i), kFieldValue);
}

// request-target bytes: printable ASCII except SP and '#'.
inline bool valid_target(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        const std::uint64_t x = load8(s.data() + i);
        if ((has_less(x, 0x21) | has_byte(x, 0x7f) | has_byte(x, '#') | (x & kHighBits)) != 0) {
            break;
        }
    }
    return all_of(s.substr(i), kTarget);
}

inline bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

inline std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_ows(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// Case-insensitive compare against a lowercase literal made of letters, digits and '-'. Exact for
// field names and values that already passed validation (the only bytes that OR 0x20 into one of
// those are control bytes, which validation rejects); not for arbitrary input.
inline bool lower_equals(std::string_view s, std::string_view lower_literal) noexcept {
    if (s.size() != lower_literal.size()) {
        return false;
    }
    for (std::size_t k = 0; k < s.size(); ++k) {
        if ((static_cast<unsigned char>(s[k]) | 0x20U) !=
            static_cast<unsigned char>(lower_literal[k])) {
            return false;
        }
    }
    return true;
}

// One field line split into name and OWS-trimmed value, or the reason it is invalid.
struct FieldLine {
    std::string_view name;
    std::string_view value;
    std::string_view error;  // empty when valid
};

// Parses `line` (without its line ending) as `field-name ":" OWS field-value OWS`.
// Rejects obs-fold (leading SP/HTAB), an empty or non-token name, whitespace before the colon and
// any control byte other than HTAB in the value (bare CR and NUL included).
inline FieldLine parse_field_line(std::string_view line) noexcept {
    FieldLine out;
    if (line.empty()) {
        out.error = "empty field line";
        return out;
    }
    if (is_ows(line.front())) {
        out.error = "obsolete line folding";
        return out;
    }
    // memchr finds the colon; the name is then checked without a branch per byte.
    const void* colon = std::memchr(line.data(), ':', line.size());
    std::size_t i = colon == nullptr
                        ? line.size()
                        : static_cast<std::size_t>(static_cast<const char*>(colon) - line.data());
    std::uint8_t acc = kToken;
    for (std::size_t k = 0; k < i; ++k) {
        acc &= kCharClass[static_cast<unsigned char>(line[k])];
    }
    if (acc == 0 || i == line.size()) {
        i = 0;
        while (i < line.size() && is(line[i], kToken)) {
            ++i;
        }
    }
    if (i == line.size()) {
        out.error = "field line without colon";
        return out;
    }
    if (line[i] != ':') {
        std::size_t j = i;
        while (j < line.size() && is_ows(line[j])) {
            ++j;
        }
        if (line[i] == '\r') {
            out.error = "bare CR in field line";
        } else if (j > i && j < line.size() && line[j] == ':') {
            out.error = "whitespace before colon in field";
        } else {
            out.error = "invalid character in field name";
        }
        return out;
    }
    if (i == 0) {
        out.error = "empty field name";
        return out;
    }
    out.name = line.substr(0, i);
    std::string_view value = line.substr(i + 1);
    if (!valid_field_value(value)) {
        out.error = value.find('\r') != std::string_view::npos ? "bare CR in field line"
                                                               : "invalid character in field value";
        return out;
    }
    out.value = trim_ows(value);
    return out;
}

// Length of the line ending at `lf` (an index of '\n' in `buf`): 2 for CRLF, 1 for a bare LF.
inline std::size_t line_ending_size(std::string_view buf, std::size_t lf) noexcept {
    return (lf > 0 && buf[lf - 1] == '\r') ? 2 : 1;
}

}  // namespace usher::http::h1::syntax
