#pragma once
// Serializing the two forwarded heads (RFC 9110 section 7.6): the request head usher sends
// upstream and the response head it sends the client. Both drop hop-by-hop fields (Connection and
// every field it names, Keep-Alive, Proxy-Connection, TE except "trailers", Transfer-Encoding,
// Upgrade unless upgrading), re-frame the body, and apply the route's header edits.
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/asio.hpp"
#include "http/message.hpp"

namespace usher::proxy {

struct UpstreamHeadParams {
    const config::Route* route = nullptr;
    const config::ProxyOptions* options = nullptr;
    std::string_view path;           // after rewrites
    std::string_view upstream_host;  // Host to send when not preserving the client's
    std::string_view client_ip;      // textual remote address
    bool trusted_client = false;     // remote is a trusted proxy: keep its X-Forwarded-*
    bool upgrade = false;            // forward Connection: upgrade + Upgrade
    std::string_view scheme = "http";
};

// Appends the upstream request head for `req` to `out`. Framing: Content-Length when the client
// sent one, Transfer-Encoding: chunked when the client's body was chunked.
void write_upstream_head(const http::RequestHead& req, const UpstreamHeadParams& p,
                         std::string& out);

struct DownstreamHeadParams {
    const config::Route* route = nullptr;
    const config::ProxyOptions* options = nullptr;
    http::BodyFraming framing = http::BodyFraming::none;  // framing usher uses towards the client
    bool keep_alive = true;                               // false: Connection: close
    bool client_http10 = false;   // HTTP/1.0 client keeping alive: Connection: keep-alive
    bool head_request = false;    // HEAD: keep the backend's Content-Length as is
    bool upgrade = false;         // 101: keep Upgrade, send Connection: upgrade
    std::string_view set_cookie;  // non-empty: add "Set-Cookie: <this>" (sticky sessions)
    std::string_view hsts;        // non-empty: Strict-Transport-Security (replaces the backend's)
};

// Appends the response head for `resp` to `out`.
void write_downstream_head(const http::ResponseHead& resp, const DownstreamHeadParams& p,
                           std::string& out);

// Appends an interim (1xx) response head as received, minus hop-by-hop fields.
void write_interim_head(const http::ResponseHead& resp, std::string& out);

// Copies validated trailer field lines (each ending in CRLF) to `out`, minus the fields that must
// never arrive as trailers (RFC 9110 section 6.5.1: framing, routing, connection control), so a
// trailer cannot smuggle a Content-Length or Host past the head. Returns `out` as a view.
std::string_view filter_trailers(std::string_view raw, std::string& out);

// Trailer lines as filter_trailers() returns them ("name: value\r\n"...) as fields viewing
// them, for an HTTP/2 peer (`out` is cleared first).
void trailer_fields(std::string_view lines, http::HeaderMap& out);

// Applies strip_prefix/replace_prefix to `path` (which may carry a query); result in `out`.
// Returns false when the route has no path rewrite (then `out` is untouched).
bool rewrite_path(const config::Rewrite& rewrite, std::string_view path, std::string& out);

}  // namespace usher::proxy
