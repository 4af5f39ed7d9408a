#pragma once
// HeadFacts: what the framing- and connection-related fields of a head said, gathered while the
// head parser adds each field (so nothing is looked up again afterwards). Internal to src/http/h1.
#include <cstdint>
#include <string_view>

#include "http/h1/syntax.hpp"
#include "http/header_map.hpp"

namespace usher::http::h1 {

struct HeadFacts {
    // Content-Length: every element of every field must carry the same value.
    bool has_content_length = false;
    bool collapse_content_length = false;  // a list or repeated field: rewrite to one field
    std::uint64_t content_length = 0;
    std::string_view content_length_digits;
    // Transfer-Encoding, read as one list across all its fields.
    bool has_transfer_encoding = false;
    bool chunked_seen = false;
    bool unknown_coding = false;               // a coding other than chunked -> 501
    std::string_view transfer_encoding_error;  // malformed list, chunked twice or not last -> 400
    // Connection tokens.
    bool close = false;
    bool keep_alive = false;
    bool connection_upgrade = false;
    // Other fields the request derives from.
    std::size_t host_count = 0;
    std::string_view host;
    bool has_upgrade = false;
    bool expect_continue = false;
};

// Interprets one validated field line if it is one of Content-Length, Transfer-Encoding, Host,
// Connection, Expect or Upgrade. Returns an error reason (status 400), or empty.
std::string_view note_field(const syntax::FieldLine& field, HeadFacts& facts);

// When Content-Length was a list or repeated (all values identical), leaves one Content-Length
// field carrying the plain digits, so what is forwarded is unambiguous.
void collapse_content_length(HeaderMap& headers, const HeadFacts& facts);

}  // namespace usher::http::h1
