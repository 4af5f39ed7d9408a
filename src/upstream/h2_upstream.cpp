#include "upstream/h2_upstream.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <type_traits>

#include "core/limits.hpp"
#include "core/log.hpp"
#include "net/tls_client_context.hpp"
#include "upstream/endpoint.hpp"

namespace usher::upstream {

namespace h2 = http::h2;

H2Upstream::H2Upstream(const Executor& ex, Endpoint& endpoint, const net::TlsClientContext* tls)
    : socket_(ex), endpoint_(endpoint), tls_context_(tls), writer_wake_(ex) {}

H2Upstream::~H2Upstream() = default;

bool H2Upstream::usable() const noexcept {
    return (state_ == State::idle || state_ == State::connecting ||
            (state_ == State::open && session_.can_open_stream())) &&
           !goaway_;
}

Task<asio::error_code> H2Upstream::ensure_connected(H2Request& waiter, bool* tls_failed) {
    if (state_ == State::connecting) {
        // Another exchange is connecting: wait for its result.
        // (Woken by the connect's end, or by the caller's watchdog: then still connecting.)
        requests_.push_back(&waiter);
        co_await waiter.wait();
        std::erase(requests_, &waiter);
        if (state_ != State::open) {
            *tls_failed = tls_failed_;
            co_return connect_error_ ? connect_error_ : asio::error::timed_out;
        }
        co_return asio::error_code{};
    }
    if (state_ == State::open) {
        co_return asio::error_code{};
    }
    if (state_ == State::closed) {
        *tls_failed = tls_failed_;
        co_return connect_error_ ? connect_error_ : asio::error::connection_aborted;
    }
    state_ = State::connecting;
    auto [ec] = co_await socket_.async_connect(endpoint_.address, use_tuple);
    if (!ec) {
        asio::error_code ignored;
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (tls_context_ != nullptr) {
            tls_ = std::make_unique<net::TlsSession>(socket_, *tls_context_,
                                                     tls_context_->peer_name(endpoint_.label));
            ec = co_await tls_->handshake();
            if (!ec && tls_->alpn() != "h2") {
                ec = asio::error::no_protocol_option;  // the backend does not speak HTTP/2
            }
            tls_failed_ = static_cast<bool>(ec);
        }
    }
    if (ec) {
        state_ = State::closed;
        connect_error_ = ec;
        *tls_failed = tls_failed_;
        fail_all();
        co_return ec;
    }
    state_ = State::open;
    auto self = shared_from_this();
    auto ex = socket_.get_executor();
    asio::co_spawn(ex, read_loop(self), asio::detached);
    asio::co_spawn(ex, write_loop(self), asio::detached);
    for (H2Request* r : requests_) {
        r->notify();  // exchanges waiting for the connect
    }
    co_return asio::error_code{};
}

bool H2Upstream::open(const http::RequestHead& head, std::string_view scheme, bool end_stream,
                      H2Request& req) {
    if (state_ != State::open || goaway_) {
        return false;
    }
    const std::int32_t id = session_.submit_request(head, scheme, end_stream);
    if (id < 0) {
        return false;
    }
    req.id = id;
    req.closed = req.refused = false;
    req.events.clear();
    requests_.push_back(&req);
    kick_writer();
    return true;
}

bool H2Upstream::send_data(H2Request& req, std::string_view bytes, bool end_stream) {
    if (req.closed || state_ != State::open || !session_.submit_data(req.id, bytes, end_stream)) {
        return false;
    }
    kick_writer();
    return true;
}

bool H2Upstream::send_trailers(H2Request& req, const http::HeaderMap& trailers) {
    if (req.closed || state_ != State::open || !session_.submit_trailers(req.id, trailers)) {
        return false;
    }
    kick_writer();
    return true;
}

std::size_t H2Upstream::send_buffered(const H2Request& req) const {
    return req.closed ? 0 : session_.stream_send_buffered(req.id);
}

void H2Upstream::consumed(H2Request& req, std::size_t n) {
    if (state_ == State::open) {
        session_.consume_response_data(req.id, n);
        kick_writer();
    }
}

void H2Upstream::release(H2Request& req) {
    const bool listed = std::erase(requests_, &req) > 0;
    if (listed && req.id > 0 && !req.closed && state_ == State::open) {
        bool ended = false;
        for (const auto& e : req.events) {
            ended = ended || std::holds_alternative<h2::ResponseEndEvent>(e);
        }
        if (!ended) {
            session_.reset_stream(req.id, h2::ErrorCode::cancel);
            kick_writer();
        }
    }
    req.id = -1;
    req.events.clear();
}

void H2Upstream::kick_writer() {
    if (writer_waiting_) {
        writer_wake_.cancel();
    }
}

H2Request* H2Upstream::find(std::int32_t id) noexcept {
    for (H2Request* r : requests_) {
        if (r->id == id) {
            return r;
        }
    }
    return nullptr;
}

void H2Upstream::fail_all() {
    for (H2Request* r : requests_) {
        r->closed = true;
        r->notify();
    }
}

void H2Upstream::dispatch() {
    while (auto event = session_.next_event()) {
        std::visit(
            [&](auto& e) {
                using E = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<E, h2::GoawayEvent>) {
                    goaway_ = true;  // no new streams here; the session refuses ours above last
                } else if constexpr (std::is_same_v<E, h2::StreamClosedEvent>) {
                    if (H2Request* r = find(e.stream_id)) {
                        r->closed = true;
                        r->refused = e.code == h2::ErrorCode::refused_stream;
                        r->notify();
                    }
                } else {
                    if (H2Request* r = find(e.stream_id)) {
                        r->events.emplace_back(std::move(e));
                        r->notify();
                    } else if constexpr (std::is_same_v<E, h2::ResponseDataEvent>) {
                        session_.consume_response_data(e.stream_id, e.data.size());
                    }
                }
            },
            *event);
    }
}

Task<void> H2Upstream::read_loop(std::shared_ptr<H2Upstream> self) {
    read_buffer_.resize(limits::kIoBufferSize);
    while (session_.wants_read() && state_ == State::open) {
        std::pair<asio::error_code, std::size_t> r;
        const auto buf = asio::buffer(read_buffer_.data(), read_buffer_.size());
        if (tls_) {
            r = co_await tls_->read_some(buf);
        } else {
            auto [ec, n] = co_await socket_.async_read_some(buf, use_tuple);
            r = {ec, n};
        }
        if (r.first) {
            break;
        }
        const h2::Status st = session_.feed(std::string_view(read_buffer_.data(), r.second));
        dispatch();
        kick_writer();
        if (!st.ok()) {
            log::warn("upstream {}: HTTP/2 connection error: {}", endpoint_.label, st.reason);
            break;
        }
    }
    // Streams whose HEADERS never left are refused (safe to retry), the others closed.
    session_.connection_lost();
    dispatch();
    state_ = State::closed;
    fail_all();
    kick_writer();
    (void)self;
}

Task<void> H2Upstream::write_loop(std::shared_ptr<H2Upstream> self) {
    for (;;) {
        const std::string_view out = session_.pending_output();
        if (out.empty()) {
            if (state_ != State::open || (!session_.wants_read() && !session_.wants_write())) {
                break;
            }
            writer_waiting_ = true;
            writer_wake_.expires_at(SteadyTimer::time_point::max());
            co_await writer_wake_.async_wait(use_tuple);
            writer_waiting_ = false;
            continue;
        }
        asio::error_code ec;
        if (tls_) {
            const std::array<asio::const_buffer, 1> bufs{cbuf(out)};
            ec = co_await tls_->write(std::span<const asio::const_buffer>(bufs));
        } else {
            auto [wec, n] = co_await asio::async_write(socket_, cbuf(out), use_tuple);
            ec = wec;
        }
        if (ec) {
            break;
        }
        session_.consume_output(out.size());
        for (H2Request* r : requests_) {
            r->notify();  // request windows may have opened
        }
    }
    state_ = State::closed;
    fail_all();
    asio::error_code ignored;
    socket_.close(ignored);  // ends the reader
    (void)self;
}

}  // namespace usher::upstream
