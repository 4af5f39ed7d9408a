#pragma once
// ClientConnection: one accepted client connection. Its run() coroutine is the HTTP/1.1
// keep-alive loop: wait for bytes (holding no buffer while idle), read and parse a request head
// under the request-header timeout, hand it to the ProxyHandler, repeat while both sides keep the
// connection alive. Pipelined requests are served one after another, responses in order.
// A TLS client that chose `h2` by ALPN, or a plain one that opens with the HTTP/2 preface on a
// listener with http2.h2c, is handed to an H2Connection instead.
//
// Idle plain HTTP/1 connections park (idle_list.hpp): run() ends, the per-request state (the
// Session: Downstream, ProxyHandler) is freed, and only this record and a readiness wait remain.
// When the client sends its next request, start() makes a new Session and runs again.
#include <memory>

#include "proxy/downstream.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/idle_list.hpp"
#include "proxy/proxy_handler.hpp"

namespace usher::proxy {

class ClientConnection final : IdleEntry {
  public:
    ClientConnection(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // Serves the connection; it owns itself from here (the coroutine, or while parked the
    // readiness wait, holds it) and deletes itself when the connection closes.
    static void start(std::unique_ptr<ClientConnection> self);

    // Drain (shutdown, or its listener removed by a reload): closes the connection now if it is
    // idle between requests; otherwise it closes after the current response (HTTP/2: graceful
    // GOAWAY, the streams in flight finish).
    void drain() noexcept;
    const ListenerInfo& listener() const noexcept { return *listener_; }

  private:
    // What exists only while the connection is being served (not while parked).
    struct Session {
        Session(WorkerContext& w, TcpSocket& s, const ListenerInfo& l)
            : down(w, s, l), handler(down) {}
        ~Session();
        Downstream down;
        ProxyHandler handler;
        std::unique_ptr<H2Connection> h2;
    };
    enum class Next : std::uint8_t { ready, park, close };

    WorkerContext& worker_;
    TcpSocket socket_;
    const ListenerInfo* listener_;
    std::unique_ptr<Session> session_;
    std::uint64_t served_ = 0;  // requests handled on this connection
    Clock::time_point idle_deadline_{};
    bool idle_ = true;  // waiting for a request in run() (not parked)
    bool drain_requested_ = false;

    Task<Next> run();
    Task<Next> await_request();
    Task<void> run_h2();
    // Keeps only this record and a readiness wait that owns it.
    static void park(std::unique_ptr<ClientConnection> self);
    void idle_expired() noexcept override;
};

// Starts serving `socket` on the worker.
void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);

}  // namespace usher::proxy
