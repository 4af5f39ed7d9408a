#pragma once
// Internal to proxy/: ProxyHandler's upstream side of one exchange (shared by the files of the
// handler: proxy_handler.cpp, proxy_handler_forward.cpp, proxy_handler_h2*.cpp).
#include <array>
#include <chrono>
#include <memory>
#include <string_view>

#include "core/asio.hpp"
#include "core/buffer.hpp"
#include "net/tls_session.hpp"
#include "proxy/downstream.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/proxy_handler.hpp"
#include "upstream/cluster.hpp"
#include "upstream/h2_upstream.hpp"
#include "upstream/tried_set.hpp"

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

inline double seconds_between(std::chrono::steady_clock::time_point a,
                              std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

inline constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";

// Tells the cluster's balancer when each attempt starts and ends (in-flight counts, latency to
// the response head). An attempt still open when the next starts, or at the end, failed.
class AttemptTracker {
  public:
    explicit AttemptTracker(upstream::LoadBalancer& lb) : lb_(lb) {}
    AttemptTracker(const AttemptTracker&) = delete;
    AttemptTracker& operator=(const AttemptTracker&) = delete;
    ~AttemptTracker() { end(false); }

    void start(upstream::Endpoint& ep) {
        end(false);
        ep_ = &ep;
        start_ = std::chrono::steady_clock::now();
        lb_.on_request_start(ep);
    }
    void end(bool success) {
        if (ep_ != nullptr) {
            lb_.on_request_end(*ep_, std::chrono::steady_clock::now() - start_, success);
            ep_ = nullptr;
        }
    }

  private:
    upstream::LoadBalancer& lb_;
    upstream::Endpoint* ep_ = nullptr;
    std::chrono::steady_clock::time_point start_{};
};

// One request's way to a backend, shared by forward() and its steps (proxy_handler_forward.cpp):
// what the request is, the retry state and the current attempt. It lives in forward()'s
// coroutine frame and each step is a coroutine of its own, so that every frame stays under the
// size Asio recycles (1,020 bytes; bench/README.md, "Allocations per request").
struct ProxyHandler::Forwarding {
    Forwarding(const CompiledRoute& r, upstream::Cluster& c, std::size_t head)
        : route(r),
          cluster(c),
          use(c),
          head_size(head),
          up{c, nullptr, {}, false},
          attempts(c.balancer()) {}
    ~Forwarding() {
        if (in_flight) {
            if (retrying) {
                cluster.end_retry();
            }
            cluster.end_request();
        }
    }
    Forwarding(const Forwarding&) = delete;
    Forwarding& operator=(const Forwarding&) = delete;

    const CompiledRoute& route;
    upstream::Cluster& cluster;
    upstream::ClusterUse use;  // a cluster replaced meanwhile lives on for us
    std::size_t head_size;     // the request head at the front of the read buffer
    // The request (stable copies: the head's views die when the read buffer is compacted).
    const config::RetryPolicy* policy = nullptr;
    std::string_view method;
    http::BodyFraming req_framing = http::BodyFraming::none;
    std::uint64_t req_length = 0;
    bool head_request = false;
    bool client_http10 = false;
    bool client_keep_alive = false;
    bool upgrade = false;
    bool expect_continue = false;
    bool idempotent = false;
    bool may_resend = false;  // the request may reach a backend twice (RFC 9110 section 9.2.2)
    bool h2_up = false;       // the cluster speaks HTTP/2
    // A body that is wholly in the read buffer (behind the head) can be sent again.
    bool replayable = false;
    bool in_flight = false;  // counted by the circuit breaker (cluster.begin_request)
    bool retrying = false;   // counted in the retry budget (cluster.begin_retry)
    // The current attempt.
    Upstream up;
    upstream::Endpoint* ep = nullptr;
    bool head_consumed = false;
    bool request_complete = false;
    std::uint16_t fail_status = 502;
    std::string_view fail_cause = "no_endpoint";
    UpstreamHeadParams hp;
    upstream::TriedSet tried;
    upstream::PickContext pick_ctx;
    AttemptTracker attempts;
    int attempt = 0;
    bool fresh_only = false;        // after a stale pooled connection failed: connect anew
    bool stale_retried = false;     // that happens once per request
    bool client_saw_bytes = false;  // a 1xx was relayed: no retry any more
    std::uint64_t retries_used = 0;
    std::chrono::milliseconds head_timeout{};  // per attempt, for the response head
    bool result = false;  // Step::done: what forward() returns (set by give_up(), else false)
};

}  // namespace usher::proxy
