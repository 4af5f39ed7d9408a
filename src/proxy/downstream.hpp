#pragma once
// Downstream: the client side of one exchange as the handler sees it: the socket, the read
// buffer (borrowed from the worker's pool while a request is in progress), the write scratch
// string, the watchdog that enforces timeouts, and who the client is.
//
// HTTP/1: one Downstream per connection, reused by every request on it. HTTP/2: the connection
// has one (socket, TLS, read buffer) and each stream's exchange gets its own, made with the
// stream constructor: `h2` is set, and the handler sends and receives through the stream
// (h2_stream.hpp) instead of the socket; its watchdog cancels the stream's waits.
#include <array>
#include <string>
#include <string_view>

#include "core/asio.hpp"
#include "core/buffer.hpp"
#include "http/h1/parser.hpp"
#include "http/message.hpp"
#include "net/tls_session.hpp"
#include "net/watchdog.hpp"
#include "proxy/worker_context.hpp"

namespace usher::proxy {

// The HTTP/1 parser's limits from the config (request and response heads alike).
inline http::h1::ParserLimits parser_limits(const config::Limits& l) noexcept {
    return {.max_request_line = l.max_request_line,
            .max_header_bytes = l.max_header_bytes,
            .max_header_count = l.max_header_count,
            .allow_bare_lf = l.allow_bare_lf};
}

struct H2Stream;

struct Downstream {
    // A client connection on `s` (owned by the caller, outlives this).
    Downstream(WorkerContext& w, TcpSocket& s, const ListenerInfo& l);
    // One HTTP/2 stream of the connection `conn`.
    Downstream(const Downstream& conn, H2Stream& stream);

    WorkerContext& worker;
    TcpSocket& socket;
    const ListenerInfo& listener;
    net::Watchdog watchdog;
    IoBuffer in;
    std::string out;  // heads and local replies being written
    asio::ip::address remote;
    std::string remote_text;  // "203.0.113.7"
    http::RequestHead request;
    bool sent_100_continue = false;
    // TLS listeners: the session over `socket` (every read and write goes through it).
    std::unique_ptr<net::TlsSession> tls;
    // HTTP/2 stream exchanges: the stream (owned by the connection); null for HTTP/1.
    H2Stream* h2 = nullptr;
    // mTLS listeners: the verified client certificate's subject ("CN=alice,O=Example"), "" when
    // the client sent none. Given to routing and the backend as X-Client-Subject, and logged.
    std::string client_subject;
    bool mtls = false;  // the listener verifies client certificates

    std::string_view scheme() const noexcept { return listener.tls ? "https" : "http"; }

    // Reads more bytes into `in` under a deadline. Returns the error (eof, operation_aborted when
    // the watchdog fired: see watchdog.fired()), or success with at least one byte added.
    Task<asio::error_code> read_some(std::chrono::milliseconds timeout, net::TimeoutCause cause);
    // The same with an absolute deadline.
    Task<asio::error_code> read_some_until(net::Watchdog::Clock::time_point deadline,
                                           net::TimeoutCause cause);
    // Writes all buffers (gather write) under a deadline.
    template <std::size_t N>
    Task<asio::error_code> write(std::array<asio::const_buffer, N> bufs,
                                 std::chrono::milliseconds timeout) {
        watchdog.arm(timeout, net::TimeoutCause::client_write);
        asio::error_code ec;
        if (tls) {
            ec = co_await tls->write(std::span<const asio::const_buffer>(bufs));
        } else {
            auto [wec, n] = co_await asio::async_write(socket, bufs, use_tuple);
            ec = wec;
        }
        watchdog.disarm();
        co_return ec;
    }
    // One read into `buffer` without a deadline (tunnels), through TLS when the listener has it.
    Task<std::pair<asio::error_code, std::size_t>> read_into(asio::mutable_buffer buffer);
    // Ends our sending side: close_notify on TLS, then a TCP half-close.
    Task<void> shutdown_send();
    Task<asio::error_code> write(std::string_view bytes, std::chrono::milliseconds timeout) {
        return write(std::array<asio::const_buffer, 1>{cbuf(bytes)}, timeout);
    }
};

}  // namespace usher::proxy
