#pragma once
// TlsClientContext: what usher needs to open TLS connections to the endpoints of one cluster
// (`https://` endpoints or a cluster `tls` key), built once from the config at start-up (later
// on reload) and shared, immutable but for its session cache, by every worker and the health
// checker.
//
// What it holds: one client SSL_CTX (TLS 1.2+, ALPN "http/1.1" offered, no compression, no
// renegotiation), the trust store (`ca_file`, or the system store without one), the optional
// client certificate for backends that require mTLS, and a session cache: the last session
// each endpoint gave us, so the next connection to it resumes instead of a full handshake.
//
// Per connection, TlsSession's client constructor asks for `peer_name()` of the endpoint: the
// name sent as SNI and checked against the certificate (hostname, or IP address for an IP
// literal, which gets no SNI). With verify: false nothing is checked (start-up logs a warning).
//
// OpenSSL is wrapped in net/tls_* only: this header names no OpenSSL type but the opaque
// ssl_ctx_st / ssl_session_st that TlsSession uses.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

struct ssl_ctx_st;      // OpenSSL's SSL_CTX
struct ssl_session_st;  // OpenSSL's SSL_SESSION

namespace usher::net {

class TlsClientContext {
  public:
    struct Built {
        std::shared_ptr<const TlsClientContext> context;  // set only when there are no errors
        std::vector<std::string> errors;                  // each names its file
    };

    // Loads the CA bundle (or the system store) and the client certificate of `tls`. Never
    // throws for bad input: each problem is one message naming the file ("/etc/usher/ca.pem:
    // cannot read: No such file or directory", "/etc/usher/c.key: key does not match the
    // certificate in /etc/usher/c.pem").
    static Built build(const config::UpstreamTls& tls);

    ~TlsClientContext();
    TlsClientContext(const TlsClientContext&) = delete;
    TlsClientContext& operator=(const TlsClientContext&) = delete;

    ssl_ctx_st* native_handle() const noexcept;
    const config::UpstreamTls& config() const noexcept;

    // The name to send as SNI and verify for an endpoint: `server_name` when configured, else
    // the endpoint's host. `endpoint` is "host:port", "[v6]:port" (SharedEndpoint::label) or a
    // bare host; the result has no port and no brackets ("api.internal", "10.0.0.5", "::1").
    std::string peer_name(std::string_view endpoint) const;

    // Session cache, used by TlsSession (client role), which sets its SSL's app data to its
    // cache key (the peer name and the socket's remote address) so that sessions the backend
    // sends are saved under it. session(): the last session saved under `key` (a new reference
    // the caller frees with SSL_SESSION_free), or nullptr; save() takes over the reference it is
    // given; forget() drops the entry (after a failed handshake). Thread-safe.
    ssl_session_st* session(const std::string& key) const;
    void save(const std::string& key, ssl_session_st* session) const;
    void forget(const std::string& key) const;
    std::size_t cached_sessions() const;

    struct Impl;

  private:
    explicit TlsClientContext(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace usher::net
