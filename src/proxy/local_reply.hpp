#pragma once
// Local replies: the responses usher itself makes (errors, redirects, direct responses). Short
// bodies, plain text or JSON by the request's Accept header, never naming a backend.
#include <cstdint>
#include <string>
#include <string_view>

namespace usher::proxy {

struct LocalReply {
    std::uint16_t status = 500;
    std::string_view body;          // empty: a standard body for the status is generated
    std::string_view content_type;  // with body
    std::string_view location;      // redirects
    std::string_view allow;         // 405: the Allow header
    std::string_view hsts;          // TLS listeners: Strict-Transport-Security value
    std::string_view detail;        // short reason appended to the standard body ("bad chunk size")
    bool close = false;             // send Connection: close and close afterwards
    bool head_only = false;         // answer to HEAD: headers only
    bool json = false;              // Accept asked for JSON
};

// Appends the whole response (head and body) to `out`.
void render_local_reply(const LocalReply& reply, std::string& out);

// True when an Accept header value prefers JSON over text ("application/json" present and no
// text/html or text/plain listed before it).
bool prefers_json(std::string_view accept) noexcept;

}  // namespace usher::proxy
