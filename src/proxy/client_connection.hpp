#pragma once
// ClientConnection: one accepted HTTP/1.1 client connection. Its run() coroutine is the keep-alive
// loop: wait for bytes (holding no buffer while idle), read and parse a request head under the
// request-header timeout, hand it to the ProxyHandler, repeat while both sides keep the
// connection alive. Pipelined requests are served one after another, responses in order.
#include <memory>

#include "proxy/downstream.hpp"
#include "proxy/proxy_handler.hpp"

namespace usher::proxy {

class ClientConnection {
  public:
    ClientConnection(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);
    ~ClientConnection();

    // Runs until the connection closes. Co-spawned by the listener; owns itself via the caller's
    // unique_ptr for the coroutine's lifetime.
    Task<void> run();

    // Drain: closes the connection now if it is idle between requests; otherwise it closes after
    // the current response.
    void drain() noexcept;

  private:
    Downstream down_;
    ProxyHandler handler_;
    bool idle_ = true;
};

// Starts serving `socket` on the worker (co_spawn, detached).
void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);

}  // namespace usher::proxy
