#include "proxy/client_connection.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "net/tls_context.hpp"
#include "proxy/worker_stats.hpp"

namespace usher::proxy {

using net::TimeoutCause;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t kLingerBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTime = 2s;
}  // namespace

ClientConnection::ClientConnection(WorkerContext& worker, TcpSocket socket,
                                   const ListenerInfo& listener)
    : socket_(std::move(socket)), down_(worker, socket_, listener), handler_(down_) {
    worker.connections.push_back(this);
    ++worker.active_connections;
    if (worker.stats != nullptr) {
        worker.stats->on_connection_open(down_.listener);
    }
}

ClientConnection::~ClientConnection() {
    auto& w = down_.worker;
    w.buffers.release(down_.in);
    auto it = std::find(w.connections.begin(), w.connections.end(), this);
    if (it != w.connections.end()) {
        *it = w.connections.back();
        w.connections.pop_back();
    }
    --w.active_connections;
    if (w.stats != nullptr) {
        w.stats->on_connection_close(down_.listener);
    }
}

void ClientConnection::drain() noexcept {
    drain_requested_ = true;
    if (h2_) {
        h2_->drain();
    } else if (idle_) {
        asio::error_code ignored;
        down_.socket.cancel(ignored);
    }
}

Task<void> ClientConnection::run() {
    auto& w = down_.worker;
    asio::error_code ignored;
    down_.socket.set_option(asio::ip::tcp::no_delay(true), ignored);

    // 0. TLS listeners: the handshake first, under its own deadline (a client that never
    //    finishes it is closed silently, like an idle one).
    if (down_.listener.tls) {
        down_.tls = std::make_unique<net::TlsSession>(down_.socket, *down_.listener.tls);
        down_.watchdog.arm(down_.listener.tls->config().handshake_timeout,
                           TimeoutCause::tls_handshake);
        auto ec = co_await down_.tls->handshake();
        down_.watchdog.disarm();
        if (w.stats != nullptr) {
            w.stats->on_tls_handshake(down_.listener, !ec);
        }
        if (ec) {
            log::debug("{}: TLS handshake failed: {}", down_.remote_text,
                       down_.watchdog.fired() != TimeoutCause::none ? std::string("timed out")
                                                                    : ec.message());
            down_.socket.close(ignored);
            co_return;
        }
        down_.mtls = !down_.listener.tls->config().client_ca.empty();
        down_.client_subject = down_.tls->peer_subject();
        if (down_.tls->alpn() == "h2") {
            co_await run_h2();
            co_return;
        }
    }
    bool h2c_possible = down_.listener.http2.h2c;  // the first bytes decide

    while (!w.draining && !drain_requested_) {
        const auto& cfg = *w.snapshot->config;
        // 1. Idle between requests. A busy keep-alive client (two requests served) usually
        //    sends its next one at once: read straight into a buffer for up to kHotIdle (Asio
        //    queues the read without a syscall and completes it with one recv), a bounded number
        //    of connections per worker. Otherwise, and after that, hold no buffer: just wait for
        //    readability (Asio re-arms the descriptor with an epoll_ctl for that wait).
        // (TLS may hold decrypted bytes already: they never wake the socket.)
        if (down_.in.empty() && !(down_.tls && down_.tls->has_buffered_input())) {
            idle_ = true;
            bool ready = false;
            if (!down_.tls && served_ >= 2 && w.hot_idle < limits::kMaxHotIdlePerWorker) {
                const auto idle = cfg.timeouts.client_idle;
                const auto hot = idle.count() > 0 && idle < limits::kHotIdle
                                     ? std::chrono::duration_cast<std::chrono::milliseconds>(idle)
                                     : limits::kHotIdle;
                ++w.hot_idle;
                auto ec = co_await down_.read_some(hot, TimeoutCause::client_idle);
                --w.hot_idle;
                if (!ec) {
                    ready = true;
                } else if (down_.watchdog.fired() == TimeoutCause::none || w.draining ||
                           drain_requested_ || hot == idle) {
                    idle_ = false;
                    break;  // closed, error, drain, or the whole idle time passed
                }
            }
            if (!ready) {
                w.buffers.release(down_.in);
                down_.watchdog.arm(cfg.timeouts.client_idle, TimeoutCause::client_idle);
                auto [ec] =
                    co_await down_.socket.async_wait(asio::socket_base::wait_read, use_tuple);
                down_.watchdog.disarm();
                if (ec || w.draining || drain_requested_) {
                    idle_ = false;
                    break;  // idle timeout, drain, or error: a silent close
                }
            }
            idle_ = false;
        }
        idle_ = false;
        down_.sent_100_continue = false;

        // 2. Read until a whole head is parsed, under the request-header timeout (slowloris).
        const http::h1::ParserLimits limits = parser_limits(cfg.limits);
        http::h1::ParseResult parsed;
        bool closed = false;
        const auto head_deadline = cfg.timeouts.request_header.count() > 0
                                       ? net::Watchdog::Clock::now() + cfg.timeouts.request_header
                                       : net::Watchdog::Clock::time_point::max();
        bool h2c = false;
        for (;;) {
            if (h2c_possible) {
                const auto m = http::h2::match_preface(down_.in.view());
                h2c = m == http::h2::PrefaceMatch::match;
                h2c_possible = m == http::h2::PrefaceMatch::need_more && !h2c;
                if (h2c) {
                    break;
                }
            }
            parsed = http::h1::parse_request_head(down_.in.view(), limits, down_.request);
            if (parsed.kind != http::h1::ParseResult::Kind::incomplete) {
                break;
            }
            if (down_.in.has_storage() && down_.in.full()) {
                down_.worker.buffers.grow(down_.in, cfg.limits.max_header_bytes + 1024);
            }
            std::size_t had = down_.in.size();
            auto ec = co_await down_.read_some_until(head_deadline, TimeoutCause::request_header);
            if (ec) {
                if (down_.watchdog.fired() != TimeoutCause::none && had > 0) {
                    co_await handler_.reply_to_bad_request({408, "request header timeout"}, had);
                }
                closed = true;
                break;
            }
        }
        if (closed) {
            break;
        }
        if (h2c) {
            co_await run_h2();
            co_return;
        }
        h2c_possible = false;
        if (parsed.kind == http::h1::ParseResult::Kind::error) {
            co_await handler_.reply_to_bad_request(parsed.error, down_.in.size());
            break;
        }

        // 3. One exchange. The handler consumes the head and body from the buffer.
        ++served_;
        bool keep_alive = co_await handler_.handle(parsed.consumed);
        if (!keep_alive || drain_requested_) {
            break;
        }
    }
    // Close: with a lingering read side so a reply just written is not lost to a RST when the
    // client still had unread bytes in flight (RFC 9112 section 9.6).
    co_await down_.shutdown_send();
    if (down_.socket.is_open() && !w.draining) {
        // Discard what the client still sends (bounded in bytes and time), until its FIN.
        std::uint64_t discarded = 0;
        down_.in.clear();
        while (discarded < kLingerBytes) {
            auto ec = co_await down_.read_some(kLingerTime, TimeoutCause::client_idle);
            if (ec) {
                break;
            }
            discarded += down_.in.size();
            down_.in.clear();
        }
    }
    down_.socket.close(ignored);
}

Task<void> ClientConnection::run_h2() {
    idle_ = false;
    h2_ = std::make_unique<H2Connection>(down_);
    co_await h2_->run();
    h2_.reset();
    co_await down_.shutdown_send();
    asio::error_code ignored;
    down_.socket.close(ignored);
}

void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener) {
    auto conn = std::make_unique<ClientConnection>(worker, std::move(socket), listener);
    auto* raw = conn.get();
    asio::co_spawn(
        worker.io->get_executor(), [c = std::move(conn)]() -> Task<void> { co_await c->run(); },
        [raw](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("connection handler failed: {}", ex.what());
                }
            }
            (void)raw;
        });
}

}  // namespace usher::proxy
