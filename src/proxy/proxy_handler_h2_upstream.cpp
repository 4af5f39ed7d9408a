// ProxyHandler's steps towards a backend that may speak HTTP/2 (`protocol: h2` clusters: gRPC and
// other h2-only backends): getting the endpoint's multiplexed connection, writing request body
// bytes (raw, chunked or as DATA frames), and waiting on an upstream stream. The attempt loop
// itself (balancing, retries, timeouts) is proxy_handler.cpp's, the same for both protocols.
#include <charconv>

#include "core/limits.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/proxy_handler.hpp"
#include "proxy/upstream_side.hpp"
#include "proxy/worker_stats.hpp"

namespace usher::proxy {

using net::TimeoutCause;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kCrlf = "\r\n";

}  // namespace

Task<bool> ProxyHandler::wait_upstream_h2(Upstream& up, Clock::time_point deadline,
                                          TimeoutCause cause) {
    down_.watchdog.watch_waiter(&up.h2req->wake);
    down_.watchdog.arm_until(deadline, cause);
    co_await up.h2req->wait();
    down_.watchdog.disarm();
    // Back to the client stream's waiter (HTTP/2 clients) or none.
    down_.watchdog.watch_waiter(down_.h2 != nullptr ? &down_.h2->wake : nullptr);
    co_return down_.watchdog.fired() == TimeoutCause::none;
}

Task<asio::error_code> ProxyHandler::connect_h2(Upstream& up, upstream::Endpoint& ep,
                                                bool& tls_failed, bool& connected_now) {
    auto& cluster = up.cluster;
    if (!ep.h2 || !ep.h2->usable()) {
        ep.h2 =
            std::make_shared<upstream::H2Upstream>(down_.socket.get_executor(), ep, cluster.tls());
    }
    up.h2 = ep.h2;
    if (!up.h2req) {
        up.h2req = std::make_shared<upstream::H2Request>(down_.socket.get_executor());
    }
    up.reused = up.h2->connected();
    if (auto* stats = down_.worker.stats; stats != nullptr) {
        stats->on_upstream_connection(cluster.name(), up.reused);
    }
    if (up.reused) {
        co_return asio::error_code{};
    }
    const bool first = !up.h2->connected();
    if (auto limit = cluster.begin_connect(); limit != upstream::CircuitLimit::none) {
        co_return asio::error::no_buffer_space;
    }
    down_.watchdog.watch_upstream(&up.h2->socket());
    down_.watchdog.watch_waiter(&up.h2req->wake);
    down_.watchdog.arm(timeouts_.connect, TimeoutCause::connect);
    auto ec = co_await up.h2->ensure_connected(*up.h2req, &tls_failed);
    down_.watchdog.disarm();
    down_.watchdog.watch_upstream(nullptr);  // shared: never cancelled for one exchange
    down_.watchdog.watch_waiter(down_.h2 != nullptr ? &down_.h2->wake : nullptr);
    cluster.end_connect();
    if (ec && ep.h2 == up.h2) {
        ep.h2.reset();
    }
    connected_now = first && !ec;
    co_return ec;
}

void ProxyHandler::start_body_pump(Upstream& up) {
    pump_running_ = true;
    pump_stop_ = false;
    pump_request_ = up.h2req;
    if (!pump_done_) {
        pump_done_ = std::make_unique<SteadyTimer>(down_.socket.get_executor());
    }
    asio::co_spawn(down_.socket.get_executor(), pump_body(up.h2, up.h2req), asio::detached);
}

Task<void> ProxyHandler::pump_body(std::shared_ptr<upstream::H2Upstream> conn,
                                   std::shared_ptr<upstream::H2Request> rq) {
    H2Stream& s = *down_.h2;
    std::string data;
    while (!pump_stop_ && !rq->closed && !s.reset) {
        if (!s.body.empty()) {
            data.swap(s.body);
            s.body.clear();
            if (!conn->send_data(*rq, data, false)) {
                break;
            }
            s.consumed(data.size());
            log_.bytes_in += data.size();
            data.clear();
            while (!pump_stop_ && !rq->closed &&
                   conn->send_buffered(*rq) > limits::kH2StreamSendHighWater) {
                co_await rq->wait_send();
            }
            continue;
        }
        if (s.ended) {
            std::string raw, filtered;
            for (const auto& f : s.trailers) {
                raw.append(f.name).append(": ").append(f.value).append("\r\n");
            }
            http::HeaderMap fields;
            trailer_fields(filter_trailers(raw, filtered), fields);
            if (fields.empty()) {
                conn->send_data(*rq, {}, true);
            } else {
                conn->send_trailers(*rq, fields);
            }
            break;
        }
        co_await s.wait_body();
    }
    pump_running_ = false;
    pump_done_->cancel();
}

Task<void> ProxyHandler::join_body_pump() {
    if (!pump_running_) {
        co_return;
    }
    pump_stop_ = true;
    down_.h2->notify();
    if (pump_request_) {
        pump_request_->notify();
    }
    while (pump_running_) {
        pump_done_->expires_at(SteadyTimer::time_point::max());
        co_await pump_done_->async_wait(use_tuple);
    }
    pump_request_.reset();
}

Task<asio::error_code> ProxyHandler::write_body(Upstream& up, std::string_view data, bool chunked) {
    if (up.h2) {
        auto& rq = *up.h2req;
        if (!up.h2->send_data(rq, data, false)) {
            co_return asio::error::connection_reset;
        }
        // Back-pressure: the backend's windows decide; hold at most the high-water mark.
        while (up.h2->send_buffered(rq) > limits::kH2StreamSendHighWater) {
            if (!co_await wait_upstream_h2(up, Clock::now() + timeouts_.upstream_idle,
                                           TimeoutCause::upstream_idle)) {
                co_return asio::error::timed_out;
            }
            if (rq.closed) {
                co_return asio::error::connection_reset;
            }
        }
        co_return asio::error_code{};
    }
    if (chunked) {
        std::array<char, 24> size_line{};
        auto r = std::to_chars(size_line.data(), size_line.data() + 20, data.size(), 16);
        *r.ptr++ = '\r';
        *r.ptr++ = '\n';
        const std::string_view line(size_line.data(),
                                    static_cast<std::size_t>(r.ptr - size_line.data()));
        co_return co_await up.write(down_, std::array{cbuf(line), cbuf(data), cbuf(kCrlf)},
                                    timeouts_.upstream_idle);
    }
    co_return co_await up.write(down_, std::array{cbuf(data)}, timeouts_.upstream_idle);
}

Task<asio::error_code> ProxyHandler::end_body(Upstream& up, std::string_view trailer_lines,
                                              bool chunked) {
    if (up.h2) {
        bool ok = false;
        if (trailer_lines.empty()) {
            ok = up.h2->send_data(*up.h2req, {}, true);
        } else {
            http::HeaderMap& fields = h2_request_.headers;  // the head went out: reuse its map
            trailer_fields(trailer_lines, fields);
            ok = up.h2->send_trailers(*up.h2req, fields);
        }
        co_return ok ? asio::error_code{} : asio::error::connection_reset;
    }
    if (!chunked) {
        co_return asio::error_code{};
    }
    co_return co_await up.write(down_, std::array{cbuf("0\r\n"), cbuf(trailer_lines), cbuf(kCrlf)},
                                timeouts_.upstream_idle);
}

}  // namespace usher::proxy
