#include "proxy/client_connection.hpp"

#include <unistd.h>

#include <algorithm>

#include "core/log.hpp"
#include "net/park_poller.hpp"
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
    : IdleEntry(&ClientConnection::idle_expired), worker_(worker), listener_(&listener) {
    worker.connections.push_back(this);
    ++worker.active_connections;
    if (worker.stats != nullptr) {
        worker.stats->on_connection_open(listener);
    }
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    session_ = std::make_unique<Session>(worker, std::move(socket), listener);
}

ClientConnection::~ClientConnection() {
    IdleList::remove(*this);
    session_.reset();
    if (parked_fd_ >= 0) {
        ::close(parked_fd_);
    }
    auto& w = worker_;
    auto it = std::find(w.connections.begin(), w.connections.end(), this);
    if (it != w.connections.end()) {
        *it = w.connections.back();
        w.connections.pop_back();
    }
    --w.active_connections;
    if (w.stats != nullptr) {
        w.stats->on_connection_close(*listener_);
    }
}

ClientConnection::Session::~Session() {
    down.worker.buffers.release(down.in);
}

void ClientConnection::drain() noexcept {
    drain_requested_ = true;
    asio::error_code ignored;
    if (!session_) {
        // Parked: due at once. (Not closed here: the worker may be iterating its connections.)
        worker_.idle.push(*this, Clock::time_point::min(), worker_.io->get_executor());
    } else if (session_->h2) {
        session_->h2->drain();
    } else if (idle_ && served_ > 0) {
        // Between two requests: closed now (the client retries on a new connection). A new
        // connection's first request is on its way and nothing would retry it: it is served
        // (with Connection: close) unless it does not come in time.
        session_->socket.cancel(ignored);
    }
}

void ClientConnection::idle_expired(IdleEntry& e) noexcept {
    static_cast<ClientConnection&>(e).close_parked();  // idle time over, or drained: silent close
}

void ClientConnection::close_parked() noexcept {
    IdleList::remove(*this);
    delete this;  // closes the descriptor (which also leaves the ParkPoller's set)
}

void ClientConnection::start(std::unique_ptr<ClientConnection> self) {
    const auto executor = self->worker_.io->get_executor();  // before `self` moves away
    asio::co_spawn(
        executor,
        [s = std::move(self)]() mutable -> Task<void> {
            auto next = co_await s->run();
            if (next == Next::park) {
                park(std::move(s));
            }
        },
        [](const std::exception_ptr& e) { log::failure("connection handler", e); });
}

void ClientConnection::park(std::unique_ptr<ClientConnection> self) {
    auto& c = *self;
    auto& w = c.worker_;
    asio::error_code ec;
    if (!c.watched_before_) {
        c.v6_ = c.session_->socket.local_endpoint(ec).protocol() == asio::ip::tcp::v6();
    }
    const int fd = c.session_->socket.release(ec);  // Asio forgets it (EPOLL_CTL_DEL)
    c.session_.reset();
    if (ec || fd < 0) {
        return;  // the socket object closes with the session; `self` deletes the record
    }
    c.parked_fd_ = fd;
    if (!w.park) {
        w.park = std::make_unique<net::ParkPoller>(w.io->get_executor(), &on_parked_ready);
    }
    if (auto err = w.park->watch(fd, &c, c.watched_before_)) {
        log::debug("cannot park a keep-alive connection ({}): closing it", err.message());
        return;  // `self` closes it
    }
    c.watched_before_ = true;
    w.idle.push(c, c.idle_deadline_, w.io->get_executor());
    (void)self.release();  // owned by the parked state now (IdleList + ParkPoller)
}

void ClientConnection::on_parked_ready(void* tag) {
    auto* c = static_cast<ClientConnection*>(tag);
    IdleList::remove(*c);
    auto& w = c->worker_;
    if (w.draining || c->drain_requested_) {
        c->close_parked();
        return;
    }
    std::unique_ptr<ClientConnection> self(c);
    TcpSocket socket(w.io->get_executor());
    asio::error_code ec;
    socket.assign(c->v6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), c->parked_fd_, ec);
    if (ec) {
        log::debug("cannot resume a parked connection: {}", ec.message());
        return;  // `self` closes it
    }
    c->parked_fd_ = -1;
    c->session_ = std::make_unique<Session>(w, std::move(socket), *c->listener_);
    start(std::move(self));
}

Task<ClientConnection::Next> ClientConnection::run() {
    auto& w = worker_;
    auto& down = session_->down;
    auto& handler = session_->handler;
    asio::error_code ignored;

    // 0. TLS listeners: the handshake first, under its own deadline (a client that never
    //    finishes it is closed silently, like an idle one). (TLS connections never park, so a
    //    session with served_ > 0 is a plain connection back from parking.)
    if (listener_->tls) {
        down.tls = std::make_unique<net::TlsSession>(down.socket, *listener_->tls);
        down.watchdog.arm(listener_->tls->config().handshake_timeout, TimeoutCause::tls_handshake);
        auto ec = co_await down.tls->handshake();
        down.watchdog.disarm();
        if (w.stats != nullptr) {
            w.stats->on_tls_handshake(*listener_, !ec);
        }
        if (ec) {
            log::debug("{}: TLS handshake failed: {}", down.remote_text,
                       down.watchdog.fired() != TimeoutCause::none ? std::string("timed out")
                                                                   : ec.message());
            down.socket.close(ignored);
            co_return Next::close;
        }
        down.mtls = !listener_->tls->config().client_ca.empty();
        down.client_subject = down.tls->peer_subject();
        if (down.tls->alpn() == "h2") {
            co_await run_h2();
            co_return Next::close;
        }
    }
    bool h2c_possible = served_ == 0 && listener_->http2.h2c;  // the first bytes decide
    bool back_from_park = served_ > 0;  // the socket is readable: straight to the head
    bool client_finished = false;       // see step 3

    while (served_ == 0 || (!w.draining && !drain_requested_)) {  // see drain()
        const auto& cfg = *w.snapshot->config;
        // 1. Idle between requests (TLS may hold decrypted bytes already: they never wake the
        //    socket).
        if (!back_from_park && down.in.empty() && !(down.tls && down.tls->has_buffered_input())) {
            idle_ = true;
            const Next next = co_await await_request();
            idle_ = false;
            if (next == Next::park) {
                co_return Next::park;
            }
            if (next == Next::close) {
                break;
            }
        }
        back_from_park = false;
        down.sent_100_continue = false;

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
                const auto m = http::h2::match_preface(down.in.view());
                h2c = m == http::h2::PrefaceMatch::match;
                h2c_possible = m == http::h2::PrefaceMatch::need_more && !h2c;
                if (h2c) {
                    break;
                }
            }
            parsed = http::h1::parse_request_head(down.in.view(), limits, down.request);
            if (parsed.kind != http::h1::ParseResult::Kind::incomplete) {
                break;
            }
            if (down.in.has_storage() && down.in.full()) {
                w.buffers.grow(down.in, cfg.limits.max_header_bytes + 1024);
            }
            std::size_t had = down.in.size();
            auto ec = co_await down.read_some_until(head_deadline, TimeoutCause::request_header);
            if (ec) {
                if (down.watchdog.fired() != TimeoutCause::none && had > 0) {
                    co_await handler.reply_to_bad_request({408, "request header timeout"}, had);
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
            co_return Next::close;
        }
        h2c_possible = false;
        if (parsed.kind == http::h1::ParseResult::Kind::error) {
            co_await handler.reply_to_bad_request(parsed.error, down.in.size());
            break;
        }

        // 3. One exchange. The handler consumes the head and body from the buffer.
        served_ += served_ < UINT32_MAX ? 1 : 0;  // saturating (only 0, 1 and "more" matter)
        bool keep_alive = co_await handler.handle(parsed.consumed);
        // A client that asked to close, sent no body and nothing after its request has nothing
        // more to send: no lingering read for it.
        client_finished = !down.request.keep_alive &&
                          down.request.framing == http::BodyFraming::none && down.in.empty();
        if (!keep_alive || drain_requested_) {
            break;
        }
    }
    // Close: with a lingering read side so a reply just written is not lost to a RST when the
    // client still had unread bytes in flight (RFC 9112 section 9.6). A plain client that is
    // finished gets the FIN of close() alone (like nginx's lingering_close heuristics).
    if (client_finished && !down.tls) {
        down.socket.close(ignored);
        co_return Next::close;
    }
    co_await down.shutdown_send();
    if (down.socket.is_open() && !w.draining && !client_finished) {
        // Discard what the client still sends (bounded in bytes and time), until its FIN.
        std::uint64_t discarded = 0;
        down.in.clear();
        while (discarded < kLingerBytes) {
            auto ec = co_await down.read_some(kLingerTime, TimeoutCause::client_idle);
            if (ec) {
                break;
            }
            discarded += down.in.size();
            down.in.clear();
        }
    }
    down.socket.close(ignored);
    co_return Next::close;
}

Task<ClientConnection::Next> ClientConnection::await_request() {
    auto& w = worker_;
    auto& down = session_->down;
    const auto idle = w.snapshot->config->timeouts.client_idle;  // zero: no limit
    const auto now = net::Watchdog::Clock::now();
    idle_deadline_ = idle.count() > 0 ? now + idle : net::Watchdog::Clock::time_point::max();
    // Where the wait happens:
    // - A plain connection that served one request and went quiet (a browser keeping it for
    //   later, a client between bursts) parks at once: it keeps ~0.3 KiB, not its session.
    // - A busy one (two requests served) usually sends its next request at once: it waits here
    //   up to kHotIdle, reading straight into a buffer when one of the worker's hot slots is
    //   free (Asio queues the read without a syscall and completes it with one recv, where a
    //   readiness wait costs an extra epoll_ctl), then parks for the rest of its idle time.
    // - A new connection (its first request is normally on the way) and a TLS one (its session
    //   state cannot be parked) wait here for the whole idle time; a new plain one reads at once
    //   into a hot slot's buffer when one is free, the rest hold no buffer.
    const bool parkable = !down.tls && served_ > 0;
    if (parkable && served_ == 1) {
        co_return (w.draining || drain_requested_) ? Next::close : Next::park;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(idle);
    if (parkable && (wait.count() == 0 || wait > limits::kHotIdle)) {
        wait = limits::kHotIdle;
    }
    const bool parks_after = parkable && idle_deadline_ > now + wait;
    bool ready = false;
    // A new plain connection reads at once too: its request is usually there already (one recv,
    // no readiness wait), or on its way.
    const bool hot = !down.tls && (parkable || served_ == 0);
    if (hot && w.hot_idle < limits::kMaxHotIdlePerWorker) {
        ++w.hot_idle;
        auto ec = co_await down.read_some(wait, TimeoutCause::client_idle);
        --w.hot_idle;
        ready = !ec;
    } else {
        w.buffers.release(down.in);
        down.watchdog.arm(wait, TimeoutCause::client_idle);
        auto [ec] = co_await down.socket.async_wait(asio::socket_base::wait_read, use_tuple);
        down.watchdog.disarm();
        ready = !ec;
    }
    if ((w.draining || drain_requested_) && served_ > 0) {
        co_return Next::close;
    }
    if (ready) {
        co_return Next::ready;
    }
    // The wait timed out (park for the rest, or the whole idle time passed), or the client
    // closed or failed (a silent close).
    co_return down.watchdog.fired() != TimeoutCause::none&& parks_after ? Next::park : Next::close;
}

Task<void> ClientConnection::run_h2() {
    idle_ = false;
    auto& s = *session_;
    s.h2 = std::make_unique<H2Connection>(s.down);
    co_await s.h2->run();
    s.h2.reset();
    co_await s.down.shutdown_send();
    asio::error_code ignored;
    s.down.socket.close(ignored);
}

void serve(WorkerContext& worker, TcpSocket socket, const ListenerInfo& listener) {
    ClientConnection::start(
        std::make_unique<ClientConnection>(worker, std::move(socket), listener));
}

}  // namespace usher::proxy
