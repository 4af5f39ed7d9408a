#pragma once
// TlsSession: one TLS connection over a TcpSocket, for the proxy's connection coroutines.
// Server role: built after accept with the listener's TlsServerContext. Client role (TLS to a
// backend): built after connect with the cluster's TlsClientContext and the name to verify. The
// socket and the context must outlive the session (their owner holds both for its lifetime).
//
// OpenSSL reads and writes the socket itself (non-blocking, MSG_NOSIGNAL); when it needs more
// bytes or buffer space the session awaits socket readiness (async_wait), so:
// - cancellation: socket.cancel() (the watchdog) makes a pending handshake/read/write complete
//   with asio::error::operation_aborted; socket.close() likewise.
// - memory: no buffers besides OpenSSL's own, which SSL_MODE_RELEASE_BUFFERS frees while idle.
//   An idle keep-alive connection may wait with socket.async_wait(wait_read) as for plain TCP,
//   but must first check has_buffered_input(): bytes already decrypted never wake the socket.
//
// Errors are values: asio::error::eof for a clean close (close_notify, or the peer closing the
// TCP connection between records), asio::error::operation_aborted on cancellation, system
// errors as such, and TLS protocol failures in tls_category() (message: OpenSSL's reason; a
// backend certificate that fails verification: "certificate verify failed: <why>", e.g.
// "certificate verify failed: hostname mismatch").
// One operation of each direction at a time (a read may run while a write is pending).
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/asio.hpp"

namespace usher::net {

class TlsClientContext;
class TlsServerContext;

// Category of TLS protocol errors (handshake failure, bad record, certificate refused...).
const std::error_category& tls_category() noexcept;

class TlsSession {
  public:
    // Server role.
    TlsSession(TcpSocket& socket, const TlsServerContext& context);
    // Client role, on a connected socket. `host`: the name sent as SNI and verified against the
    // backend's certificate (context.peer_name(endpoint)); an IPv4/IPv6 literal is verified as
    // an IP address and sends no SNI. Must not be empty when the context verifies. A session
    // cached for this name and remote address is offered for resumption.
    TlsSession(TcpSocket& socket, const TlsClientContext& context, std::string_view host);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    // Runs the server (or client) handshake. The caller bounds it (listener
    // tls.handshake_timeout, or the connect timeout to a backend) with its watchdog. After
    // success the accessors below are valid.
    Task<asio::error_code> handshake();

    // Reads some decrypted bytes (at least one unless `buffer` is empty). eof = the client closed.
    Task<std::pair<asio::error_code, std::size_t>> read_some(asio::mutable_buffer buffer);

    // Writes all of `buffers`. Small pieces are coalesced so that a head plus a body slice go
    // out as one TLS record instead of one record per piece.
    Task<asio::error_code> write(std::span<const asio::const_buffer> buffers);

    // Sends close_notify if the socket can take it now; never waits for the peer's reply (as
    // nginx does). Does not close the socket.
    Task<void> shutdown();

    // True when OpenSSL holds decrypted (or undecrypted, already read) bytes: a read_some would
    // return without touching the socket.
    bool has_buffered_input() const noexcept;

    // After a successful handshake:
    std::string_view server_name() const noexcept;  // SNI as sent by the client; "" if none
    std::string_view alpn() const noexcept;         // "http/1.1", "h2" or "" (none agreed)
    std::string_view version() const noexcept;      // "TLSv1.3"
    std::string_view cipher() const noexcept;       // "TLS_AES_128_GCM_SHA256"
    bool resumed() const noexcept;                  // session resumed (ticket or cache)
    // Verified client certificate subject, one line RFC 2253 ("CN=alice,O=Example"); "" when the
    // client sent none (mTLS off or optional). Client role: the backend certificate's subject.
    const std::string& peer_subject() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace usher::net
