#pragma once
// H2Upstream: one HTTP/2 connection from a worker to a backend of an `protocol: h2` cluster
// (h2c, or TLS with ALPN h2), multiplexing the worker's requests to that endpoint. It drives
// http::h2::ClientSession (sans-I/O) with a reader and a writer coroutine and hands each
// stream's events to the H2Request its exchange waits on.
//
// Ownership: the endpoint keeps the current connection (Endpoint::h2) for new requests; each
// exchange holds a shared_ptr while its stream is open; the loops hold one until the connection
// ends. A connection that failed, received GOAWAY, or reached the backend's stream limit is not
// usable() and the next exchange opens a new one.
//
// Back-pressure: response DATA counts against the stream window until the exchange calls
// consumed() after forwarding it; request DATA waits in the session until the backend's windows
// open (the exchange waits while send_buffered() is above its high-water mark).
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/asio.hpp"
#include "http/h2/client_session.hpp"
#include "net/tls_session.hpp"

namespace usher::net {
class TlsClientContext;
}

namespace usher::upstream {

struct Endpoint;

// One request on an H2Upstream, as its exchange sees it.
struct H2Request {
    explicit H2Request(const Executor& ex) : wake(ex), send_wake(ex) {}
    std::int32_t id = -1;
    std::deque<http::h2::ClientEvent> events;  // heads, data and the end, in order
    bool closed = false;   // the stream ended without a ResponseEndEvent, or the connection died
    bool refused = false;  // ... and the backend never processed it (GOAWAY, REFUSED_STREAM)
    SteadyTimer wake;
    bool waiting = false;
    // A request body sent alongside the response (bidirectional streams) waits for window here.
    SteadyTimer send_wake;
    bool send_waiting = false;

    void notify() {
        if (waiting) {
            wake.cancel();
        }
        if (send_waiting) {
            send_wake.cancel();
        }
    }
    Task<void> wait_send() {
        send_waiting = true;
        send_wake.expires_at(SteadyTimer::time_point::max());
        co_await send_wake.async_wait(use_tuple);
        send_waiting = false;
    }
    // Sleeps until notify() or a cancel of `wake` (the exchange's watchdog).
    Task<void> wait() {
        waiting = true;
        wake.expires_at(SteadyTimer::time_point::max());
        co_await wake.async_wait(use_tuple);
        waiting = false;
    }
};

class H2Upstream : public std::enable_shared_from_this<H2Upstream> {
  public:
    H2Upstream(const Executor& ex, Endpoint& endpoint, const net::TlsClientContext* tls);
    ~H2Upstream();
    H2Upstream(const H2Upstream&) = delete;
    H2Upstream& operator=(const H2Upstream&) = delete;

    // The socket, for the caller's watchdog while connecting.
    TcpSocket& socket() noexcept { return socket_; }
    // Connects (and runs the TLS handshake with ALPN h2), then starts the loops. Only the first
    // caller connects; others wait on `waiter` until it is done. The caller bounds the time
    // with its watchdog on socket() (and on waiter.wake). Returns an error when the connection
    // failed (`tls_failed` tells a TLS failure, including a backend that did not agree on h2).
    Task<asio::error_code> ensure_connected(H2Request& waiter, bool* tls_failed);
    bool connected() const noexcept { return state_ == State::open; }
    // A new stream can be opened now.
    bool usable() const noexcept;

    // Opens a stream for `head` (pseudo-headers from its method, path and authority); the
    // request's events arrive in `req` until release(). False when no stream can be opened.
    bool open(const http::RequestHead& head, std::string_view scheme, bool end_stream,
              H2Request& req);
    bool send_data(H2Request& req, std::string_view bytes, bool end_stream);
    bool send_trailers(H2Request& req, const http::HeaderMap& trailers);
    std::size_t send_buffered(const H2Request& req) const;
    // `n` response bytes were forwarded: the backend may send that many more.
    void consumed(H2Request& req, std::size_t n);
    // The exchange is done with `req`: a stream still open is reset (CANCEL).
    void release(H2Request& req);

  private:
    enum class State : std::uint8_t { idle, connecting, open, closed };
    Task<void> read_loop(std::shared_ptr<H2Upstream> self);
    Task<void> write_loop(std::shared_ptr<H2Upstream> self);
    void dispatch();
    H2Request* find(std::int32_t id) noexcept;
    void kick_writer();
    void fail_all();

    TcpSocket socket_;
    std::unique_ptr<net::TlsSession> tls_;
    Endpoint& endpoint_;
    const net::TlsClientContext* tls_context_;
    http::h2::ClientSession session_;
    std::vector<H2Request*> requests_;  // open streams and connect waiters
    std::vector<char> read_buffer_;
    SteadyTimer writer_wake_;
    bool writer_waiting_ = false;
    bool goaway_ = false;
    State state_ = State::idle;
    asio::error_code connect_error_;
    bool tls_failed_ = false;
};

}  // namespace usher::upstream
