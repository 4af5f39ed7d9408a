#pragma once
// The protocol-neutral message model shared by the HTTP/1 codec (and later HTTP/2), the router and
// filters. Views point into the connection's read buffer (see header_map.hpp for lifetimes).
#include <cstdint>
#include <string_view>

#include "http/header_map.hpp"

namespace usher::http {

enum class Version : std::uint8_t { http10, http11, http2 };

// How a message body is delimited on the wire (RFC 9112 section 6).
enum class BodyFraming : std::uint8_t {
    none,            // no body (GET without framing headers, HEAD response, 1xx/204/304, ...)
    content_length,  // exactly `content_length` bytes
    chunked,         // chunked transfer coding (final coding)
    until_close,     // response only: body runs until the server closes the connection
};

struct RequestHead {
    std::string_view method;
    std::string_view target;  // as received: origin-form, absolute-form, authority-form or "*"
    Version version = Version::http11;
    HeaderMap headers;

    // Derived by the parser:
    std::string_view authority;  // Host header value (or authority of an absolute-form target)
    std::string_view path;       // path + query of the target ("*" / the authority for the
                                 // asterisk and authority forms)
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;  // valid when framing == content_length
    bool keep_alive = true;        // false for HTTP/1.0 without keep-alive, or Connection: close
    bool expect_continue = false;  // Expect: 100-continue (case-insensitive)
    bool upgrade = false;          // Connection: upgrade with an Upgrade header

    void clear() noexcept;
};

struct ResponseHead {
    std::uint16_t status = 0;
    std::string_view reason;
    Version version = Version::http11;
    HeaderMap headers;

    // Derived by the parser:
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;  // false for Connection: close, or HTTP/1.0 without keep-alive

    void clear() noexcept;
};

std::string_view version_string(Version v) noexcept;            // "HTTP/1.0" / "HTTP/1.1"
std::string_view reason_phrase(std::uint16_t status) noexcept;  // standard phrase or "Unknown"

}  // namespace usher::http
