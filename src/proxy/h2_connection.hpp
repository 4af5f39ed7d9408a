#pragma once
// H2Connection: one HTTP/2 client connection (TLS with ALPN h2, or h2c with prior knowledge on a
// plain listener that allows it). Drives http::h2::ServerSession (sans-I/O) with two coroutines,
// a reader (socket -> session -> stream events) and a writer (session output -> socket), and
// runs one exchange per stream: the same ProxyHandler as HTTP/1, with a Downstream whose `h2`
// points at the stream (h2_stream.hpp), so routing, retries, timeouts and logging are shared.
//
// Bounded memory: request bodies wait in their stream only up to the window usher advertised
// (Settings::initial_stream_window); response bytes wait in the session only up to the
// exchange's high-water mark per stream (the exchange stops reading its backend above it).
// Shutdown: drain() sends the two-step graceful GOAWAY; streams in flight finish.
#include <cstdint>
#include <memory>
#include <vector>

#include "http/h2/server_session.hpp"
#include "proxy/downstream.hpp"
#include "proxy/h2_stream.hpp"

namespace usher::proxy {

// The session settings of a listener.
http::h2::Settings h2_settings(const ListenerInfo& listener);

class H2Connection {
  public:
    // `down` is the connection's Downstream: its socket (and TLS session) are past the
    // handshake, and `down.in` may hold the first bytes read (the h2c preface).
    explicit H2Connection(Downstream& down);
    ~H2Connection();
    H2Connection(const H2Connection&) = delete;
    H2Connection& operator=(const H2Connection&) = delete;

    // Serves the connection until it closes and every stream's exchange finished.
    Task<void> run();
    // Graceful shutdown (drain, reload): GOAWAY, finish the streams in flight, close.
    void drain();

    http::h2::ServerSession& session() noexcept { return session_; }
    // New output may be pending (a submit, a window update): wake the writer.
    void kick_writer();

  private:
    struct Exchange;
    Task<void> read_loop();
    Task<void> write_loop();
    Task<void> serve(Exchange& ex);
    bool feed(std::string_view bytes);
    void dispatch();
    Exchange* find(std::int32_t id) noexcept;
    void close_all_streams();

    Downstream& down_;
    http::h2::ServerSession session_;
    std::vector<std::unique_ptr<Exchange>> exchanges_;
    net::Watchdog write_watchdog_;  // the reader's steps use down_.watchdog
    SteadyTimer writer_wake_;
    SteadyTimer streams_done_;
    bool writer_waiting_ = false;
    bool closing_ = false;  // the reader stopped: no more input, streams are told
    bool draining_ = false;
};

}  // namespace usher::proxy
