#pragma once
// ClientConnection: one accepted client connection. Its run() coroutine is the HTTP/1.1
// keep-alive loop: wait for bytes (holding no buffer while idle), read and parse a request head
// under the request-header timeout, hand it to the ProxyHandler, repeat while both sides keep the
// connection alive. Pipelined requests are served one after another, responses in order.
// A TLS client that chose `h2` by ALPN, or a plain one that opens with the HTTP/2 preface on a
// listener with http2.h2c, is handed to an H2Connection instead.
#include <memory>

#include "proxy/downstream.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/proxy_handler.hpp"

namespace usher::proxy {

class ClientConnection {
  public:
    ClientConnection(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);
    ~ClientConnection();

    // Runs until the connection closes. Co-spawned by the listener; owns itself via the caller's
    // unique_ptr for the coroutine's lifetime.
    Task<void> run();

    // Drain (shutdown, or its listener removed by a reload): closes the connection now if it is
    // idle between requests; otherwise it closes after the current response (HTTP/2: graceful
    // GOAWAY, the streams in flight finish).
    void drain() noexcept;
    const ListenerInfo& listener() const noexcept { return down_.listener; }

  private:
    TcpSocket socket_;
    Downstream down_;
    ProxyHandler handler_;
    std::unique_ptr<H2Connection> h2_;
    std::uint64_t served_ = 0;  // requests handled on this connection
    bool idle_ = true;
    bool drain_requested_ = false;

    Task<void> run_h2();
};

// Starts serving `socket` on the worker (co_spawn, detached).
void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);

}  // namespace usher::proxy
