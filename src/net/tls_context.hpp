#pragma once
// TlsServerContext: everything a TLS listener needs to accept handshakes, built once per
// listener from its config (at start-up, later on reload) and shared, immutable, by every worker
// (OpenSSL's SSL_CTX is safe to use from many threads; the ticket key ring locks itself).
//
// What it holds: one SSL_CTX per certificate with identical settings (TLS 1.2+ or 1.3+, ECDHE +
// AEAD ciphers in server order, no compression, no renegotiation, ALPN, session cache and
// rotating ticket keys, optional OCSP staple, optional client-certificate verification). The
// first certificate's SSL_CTX accepts every connection; the ClientHello callback switches to the
// certificate whose subjectAltName DNS names (exact or "*.example.com"; the subject CN only
// without SAN) match the requested name, and keeps the first one otherwise.
//
// OpenSSL is wrapped in net/tls_* only: this header names no OpenSSL type but the opaque
// ssl_ctx_st that TlsSession and tests use.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace usher::net {

struct TlsContextOptions {
    std::chrono::milliseconds ticket_key_rotation = limits::kTlsTicketKeyRotation;
    std::size_t session_cache_size = limits::kTlsSessionCacheSize;
    std::chrono::seconds session_lifetime = limits::kTlsSessionLifetime;
};

class TlsServerContext {
  public:
    struct Built;  // defined below

    // Loads every certificate, key, OCSP response and the client CA of `tls`. Never throws for
    // bad input: each problem is one message naming the file ("/etc/usher/a.key: does not match
    // the certificate in /etc/usher/a.pem"). `context` is set only when there are none.
    static Built build(const config::ListenerTls& tls, const TlsContextOptions& options = {});

    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;

    // The SSL_CTX a new server connection starts on (the default certificate's).
    ssl_ctx_st* native_handle() const noexcept;

    // The names SNI matches for certificate `index` (in config order), lower case.
    const std::vector<std::string>& names(std::size_t index) const;
    std::size_t certificate_count() const noexcept;
    // Which certificate a client asking for `server_name` gets (0 = the default).
    std::size_t select(std::string_view server_name) const noexcept;

    const config::ListenerTls& config() const noexcept;

    // Starts a new ticket encryption key now (the previous one still decrypts); normally
    // done automatically every `ticket_key_rotation`. For tests and a future admin command.
    void rotate_ticket_keys() const;

    struct Impl;

  private:
    explicit TlsServerContext(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct TlsServerContext::Built {
    std::shared_ptr<const TlsServerContext> context;
    std::vector<std::string> errors;
};

// `usher check` and start-up: builds the context of every TLS listener and every TLS cluster
// (TlsClientContext) and returns one message per problem, each prefixed with the listener or
// cluster ("listener web: /etc/usher/a.pem: certificate expired on 2024-01-01 00:00:00 UTC",
// "cluster api: /etc/usher/ca.pem: cannot read: No such file or directory"). Empty = all good.
std::vector<std::string> check_tls_config(const config::Config& config);

}  // namespace usher::net
