#pragma once
// A blocking TLS client made with OpenSSL directly, and a one-connection TlsSession echo server
// on an io_context thread: what the TLS tests run handshakes with.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/asio.hpp"
#include "net/tls_context.hpp"
#include "net/tls_session.hpp"

namespace usher::test {

struct ClientOptions {
    std::string sni;                // "" = no SNI
    std::vector<std::string> alpn;  // offered; empty = no ALPN extension
    int min_version = 0;            // TLS1_x_VERSION; 0 = library default
    int max_version = 0;
    bool legacy = false;    // security level 0 (to offer TLS 1.0/1.1 at all)
    std::string ciphers;    // TLS 1.2 cipher list; "" = library default
    std::string cert, key;  // client certificate (mTLS)
    std::string session;    // DER session from an earlier connection, to resume
    bool request_ocsp = false;
    std::string send = "ping";     // sent after the handshake; the echo is read back
    bool wait_for_close = false;   // then read until the server closes
    std::size_t expect_bytes = 0;  // read this many bytes back instead of send.size()
};

struct ClientResult {
    bool handshake_ok = false;
    bool echo_ok = false;
    std::string error;
    std::string server_cn;  // CN of the certificate the server presented
    std::string alpn, version;
    bool reused = false;
    std::string session;  // DER of the session, for a later resumption
    std::string ocsp;     // stapled response bytes
    std::string echoed;
};

struct ServerResult {
    asio::error_code handshake;
    std::string server_name, alpn, version, cipher, subject;
    bool resumed = false;
    asio::error_code read_error;  // how the echo loop ended
};

ClientResult run_client(std::uint16_t port, const ClientOptions& options);

// Accepts one connection on 127.0.0.1, runs TlsSession handshake and echoes what it reads until
// the client closes; meanwhile runs `options` as a client. `after_handshake` (optional) runs on
// the server side instead of the echo loop.
struct Exchange {
    ClientResult client;
    ServerResult server;
};
Exchange exchange(const net::TlsServerContext& context, const ClientOptions& options,
                  std::function<Task<void>(TcpSocket&, net::TlsSession&, ServerResult&)>
                      after_handshake = nullptr);

}  // namespace usher::test
