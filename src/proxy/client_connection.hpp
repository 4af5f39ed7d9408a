#pragma once
// ClientConnection: one accepted client connection. Its run() coroutine is the HTTP/1.1
// keep-alive loop: wait for bytes (holding no buffer while idle), read and parse a request head
// under the request-header timeout, hand it to the ProxyHandler, repeat while both sides keep the
// connection alive. Pipelined requests are served one after another, responses in order.
// A TLS client that chose `h2` by ALPN, or a plain one that opens with the HTTP/2 preface on a
// listener with http2.h2c, is handed to an H2Connection instead.
//
// Idle plain HTTP/1 connections park: run() ends, the Session (socket object, Downstream,
// ProxyHandler, coroutine frames) is freed, the descriptor is released from Asio to the worker's
// ParkPoller (net/park_poller.hpp) and the IdleList (idle_list.hpp) times it out. What remains is
// this ~80-byte record and a kernel epoll entry. When the client sends its next request, the
// descriptor goes back to Asio in a new Session and run() starts again.
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

    // Serves the connection. It owns itself from here: the coroutine holds it while it is
    // served; parked, the worker's IdleList and ParkPoller refer to it until it comes back, times
    // out or is drained. It deletes itself when the connection closes.
    static void start(std::unique_ptr<ClientConnection> self);

    // Drain (shutdown, or its listener removed by a reload): closes the connection soon if it is
    // idle between requests; otherwise it closes after the current response (HTTP/2: graceful
    // GOAWAY, the streams in flight finish).
    void drain() noexcept;
    const ListenerInfo& listener() const noexcept { return *listener_; }

    // The worker's ParkPoller reports a parked descriptor readable (or hung up).
    static void on_parked_ready(void* tag);

  private:
    // What exists only while the connection is being served (not while parked).
    struct Session {
        Session(WorkerContext& w, TcpSocket s, const ListenerInfo& l)
            : socket(std::move(s)), down(w, socket, l), handler(down) {}
        ~Session();
        TcpSocket socket;
        Downstream down;
        ProxyHandler handler;
        std::unique_ptr<H2Connection> h2;
    };
    enum class Next : std::uint8_t { ready, park, close };

    WorkerContext& worker_;
    const ListenerInfo* listener_;
    std::unique_ptr<Session> session_;
    Clock::time_point idle_deadline_{};
    int parked_fd_ = -1;           // the descriptor while parked
    std::uint32_t served_ = 0;     // requests handled on this connection
    bool v6_ = false;              // its address family (to hand the descriptor back to Asio)
    bool watched_before_ = false;  // the descriptor is in the ParkPoller's set already
    bool idle_ = true;             // waiting for a request in run() (not parked)
    bool drain_requested_ = false;

    Task<Next> run();
    Task<Next> await_request();
    Task<void> run_h2();
    // Keeps only this record: the descriptor goes to the ParkPoller, the session is freed.
    static void park(std::unique_ptr<ClientConnection> self);
    static void idle_expired(IdleEntry& e) noexcept;
    void close_parked() noexcept;
};

// Starts serving `socket` on the worker.
void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener);

}  // namespace usher::proxy
