#pragma once
// Internal to proxy/: ProxyHandler's upstream side of one exchange (shared by the HTTP/1 and
// HTTP/2 halves of the handler: proxy_handler.cpp, proxy_handler_h2.cpp).
#include <array>
#include <chrono>
#include <memory>

#include "core/asio.hpp"
#include "core/buffer.hpp"
#include "net/tls_session.hpp"
#include "proxy/downstream.hpp"
#include "proxy/proxy_handler.hpp"
#include "upstream/cluster.hpp"
#include "upstream/h2_upstream.hpp"

namespace usher::proxy {

// The upstream side of one exchange: the connection (fresh or from the pool) and the buffer its
// response is read into.
struct ProxyHandler::Upstream {
    upstream::Cluster& cluster;
    std::unique_ptr<upstream::Connection> conn;
    IoBuffer buf;
    bool reused = false;
    // `protocol: h2` clusters: the multiplexed connection and this exchange's stream on it
    // (then `conn` and `buf` stay empty).
    std::shared_ptr<upstream::H2Upstream> h2;
    std::shared_ptr<upstream::H2Request> h2req;  // shared with a concurrent body pump

    Task<asio::error_code> read_some(Downstream& down, std::chrono::milliseconds timeout,
                                     net::TimeoutCause cause) {
        return read_some_until(down,
                               timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                                   : std::chrono::steady_clock::time_point::max(),
                               cause);
    }
    Task<asio::error_code> read_some_until(Downstream& down,
                                           std::chrono::steady_clock::time_point deadline,
                                           net::TimeoutCause cause) {
        down.worker.buffers.acquire(buf);
        char* space = buf.space();
        if (buf.space_size() == 0) {
            co_return asio::error::no_buffer_space;
        }
        down.watchdog.arm_until(deadline, cause);
        auto [ec, n] = co_await read_into(asio::buffer(space, buf.space_size()));
        down.watchdog.disarm();
        if (!ec) {
            buf.commit(n);
        }
        co_return ec;
    }
    // One read without a deadline, through TLS when the cluster speaks it.
    Task<std::pair<asio::error_code, std::size_t>> read_into(asio::mutable_buffer b) {
        if (conn->tls) {
            co_return co_await conn->tls->read_some(b);
        }
        auto [ec, n] = co_await conn->socket.async_read_some(b, use_tuple);
        co_return std::pair{ec, n};
    }
    template <std::size_t N>
    Task<asio::error_code> write_all(std::array<asio::const_buffer, N> bufs) {
        if (conn->tls) {
            co_return co_await conn->tls->write(std::span<const asio::const_buffer>(bufs));
        }
        auto [ec, n] = co_await asio::async_write(conn->socket, bufs, use_tuple);
        co_return ec;
    }

    template <std::size_t N>
    Task<asio::error_code> write(Downstream& down, std::array<asio::const_buffer, N> bufs,
                                 std::chrono::milliseconds timeout) {
        down.watchdog.arm(timeout, net::TimeoutCause::upstream_idle);
        auto ec = co_await write_all(bufs);
        down.watchdog.disarm();
        co_return ec;
    }
};

}  // namespace usher::proxy
