#include "proxy/h2_connection.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <type_traits>

#include "core/log.hpp"
#include "proxy/proxy_handler.hpp"

namespace usher::proxy {

namespace h2 = http::h2;
using net::TimeoutCause;

// One stream's exchange: the stream, the Downstream the handler sees, the handler.
struct H2Connection::Exchange {
    Exchange(H2Connection& c, std::int32_t id, const Downstream& conn_down)
        : stream(c, id, conn_down.socket.get_executor()), down(conn_down, stream), handler(down) {}
    H2Stream stream;
    Downstream down;
    ProxyHandler handler;
};

h2::Settings h2_settings(const ListenerInfo& listener) {
    h2::Settings s;
    s.max_concurrent_streams = listener.http2.max_concurrent_streams;
    s.initial_stream_window = listener.http2.initial_stream_window;
    s.connection_window = listener.http2.connection_window;
    s.max_header_list_size = listener.http2.max_header_list_size;
    return s;
}

// H2Stream's response side, through the connection's session.
bool H2Stream::respond(const http::ResponseHead& head, bool end_stream) {
    if (reset || finished) {
        return false;
    }
    const bool interim = head.status >= 100 && head.status < 200;
    if (!conn.session().submit_response(id, head, end_stream && !interim)) {
        return false;
    }
    finished = end_stream && !interim;
    conn.kick_writer();
    return true;
}

bool H2Stream::data(std::string_view bytes, bool end_stream) {
    if (reset || finished || !conn.session().submit_data(id, bytes, end_stream)) {
        return false;
    }
    finished = end_stream;
    conn.kick_writer();
    return true;
}

bool H2Stream::finish(const http::HeaderMap& trailer_fields) {
    if (reset || finished) {
        return false;
    }
    const bool ok = trailer_fields.empty() ? conn.session().submit_data(id, {}, true)
                                           : conn.session().submit_trailers(id, trailer_fields);
    finished = ok;
    conn.kick_writer();
    return ok;
}

std::size_t H2Stream::send_buffered() const {
    return conn.session().stream_send_buffered(id);
}

void H2Stream::consumed(std::size_t n) {
    conn.session().consume_request_data(id, n);
    conn.kick_writer();  // a WINDOW_UPDATE may be due
}

H2Connection::H2Connection(Downstream& down)
    : down_(down),
      session_(h2_settings(down.listener)),
      write_watchdog_(down.socket.get_executor()),
      writer_wake_(down.socket.get_executor()),
      streams_done_(down.socket.get_executor()) {
    write_watchdog_.watch(&down.socket, nullptr);
}

H2Connection::~H2Connection() = default;

void H2Connection::kick_writer() {
    if (writer_waiting_) {
        writer_wake_.cancel();
    }
}

void H2Connection::drain() {
    if (!draining_) {
        draining_ = true;
        session_.submit_goaway_graceful();
        kick_writer();
    }
}

Task<void> H2Connection::run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (read_loop() && write_loop());
    // Exchanges still running (waiting for a backend) see their stream reset; the session and
    // this object outlive them.
    while (!exchanges_.empty()) {
        streams_done_.expires_at(SteadyTimer::time_point::max());
        co_await streams_done_.async_wait(use_tuple);
    }
}

Task<void> H2Connection::read_loop() {
    auto& w = down_.worker;
    const auto idle_timeout = w.snapshot->config->timeouts.client_idle;
    bool ok = true;
    if (!down_.in.empty()) {  // the h2c preface and what followed it
        ok = feed(down_.in.view());
        down_.in.clear();
    }
    while (ok && !closing_ && session_.wants_read()) {
        if (exchanges_.empty() && !(down_.tls && down_.tls->has_buffered_input())) {
            // No stream open: hold no buffer; close after the idle timeout (the client reopens).
            w.buffers.release(down_.in);
            down_.watchdog.arm(idle_timeout, TimeoutCause::client_idle);
            auto [ec] = co_await down_.socket.async_wait(asio::socket_base::wait_read, use_tuple);
            down_.watchdog.disarm();
            if (ec || closing_) {
                break;
            }
        }
        down_.in.clear();
        // No deadline while streams are open: each exchange bounds its own steps.
        auto ec = co_await down_.read_some(std::chrono::milliseconds{0}, TimeoutCause::client_idle);
        if (ec) {
            break;
        }
        ok = feed(down_.in.view());
        down_.in.clear();
    }
    w.buffers.release(down_.in);
    closing_ = true;
    close_all_streams();
    kick_writer();  // flush what is queued (a GOAWAY), then stop
}

Task<void> H2Connection::write_loop() {
    const auto timeout = down_.worker.snapshot->config->timeouts.client_idle;
    for (;;) {
        const std::string_view out = session_.pending_output();
        if (out.empty()) {
            if (closing_ || (!session_.wants_read() && !session_.wants_write())) {
                break;
            }
            writer_waiting_ = true;
            writer_wake_.expires_at(SteadyTimer::time_point::max());
            co_await writer_wake_.async_wait(use_tuple);
            writer_waiting_ = false;
            continue;
        }
        write_watchdog_.arm(timeout, TimeoutCause::client_write);
        asio::error_code ec;
        if (down_.tls) {
            const std::array<asio::const_buffer, 1> bufs{cbuf(out)};
            ec = co_await down_.tls->write(std::span<const asio::const_buffer>(bufs));
        } else {
            auto [wec, n] = co_await asio::async_write(down_.socket, cbuf(out), use_tuple);
            ec = wec;
        }
        write_watchdog_.disarm();
        if (ec) {
            break;
        }
        session_.consume_output(out.size());
        // Windows may have opened: exchanges held back by their high-water mark look again.
        for (auto& ex : exchanges_) {
            ex->stream.notify();
        }
    }
    closing_ = true;
    close_all_streams();
    asio::error_code ignored;
    down_.socket.cancel(ignored);  // wake the reader
}

bool H2Connection::feed(std::string_view bytes) {
    const h2::Status& st = session_.feed(bytes);
    dispatch();
    kick_writer();
    if (!st.ok()) {
        log::debug("{}: HTTP/2 connection error: {}", down_.remote_text, st.reason);
        return false;
    }
    return true;
}

H2Connection::Exchange* H2Connection::find(std::int32_t id) noexcept {
    for (auto& ex : exchanges_) {
        if (ex->stream.id == id) {
            return ex.get();
        }
    }
    return nullptr;
}

void H2Connection::dispatch() {
    while (auto event = session_.next_event()) {
        std::visit(
            [&](auto& e) {
                using E = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<E, h2::RequestHeadEvent>) {
                    down_.watchdog.disarm();  // a stream is open: no idle timeout
                    auto ex = std::make_unique<Exchange>(*this, e.stream_id, down_);
                    ex->down.request = std::move(e.head);
                    Exchange& raw = *ex;
                    exchanges_.push_back(std::move(ex));
                    asio::co_spawn(
                        down_.socket.get_executor(), serve(raw),
                        [](const std::exception_ptr& p) { log::failure("HTTP/2 stream", p); });
                } else if constexpr (std::is_same_v<E, h2::RequestDataEvent>) {
                    if (Exchange* ex = find(e.stream_id)) {
                        if (ex->stream.body.empty()) {
                            ex->stream.body.swap(e.data);
                        } else {
                            ex->stream.body.append(e.data);
                        }
                        ex->stream.notify();
                    } else {
                        session_.consume_request_data(e.stream_id, e.data.size());
                    }
                } else if constexpr (std::is_same_v<E, h2::RequestEndEvent>) {
                    if (Exchange* ex = find(e.stream_id)) {
                        ex->stream.ended = true;
                        ex->stream.trailers = std::move(e.trailers);
                        ex->stream.notify();
                    }
                } else if constexpr (std::is_same_v<E, h2::StreamResetEvent>) {
                    if (Exchange* ex = find(e.stream_id)) {
                        // Abandon the exchange now, whatever it waits on (a backend's head...).
                        ex->stream.reset = true;
                        ex->stream.notify();
                        ex->down.watchdog.fire_now(TimeoutCause::client_gone);
                    }
                }
            },
            *event);
    }
}

void H2Connection::close_all_streams() {
    for (auto& ex : exchanges_) {
        if (!ex->stream.reset) {
            ex->stream.reset = true;
            ex->stream.notify();
            ex->down.watchdog.fire_now(TimeoutCause::client_gone);
        }
    }
}

Task<void> H2Connection::serve(Exchange& ex) {
    co_await ex.handler.handle(0);
    H2Stream& s = ex.stream;
    if (!closing_ && !s.reset) {
        if (!s.finished) {
            // The response broke off (backend gone mid-body...): the client must not take a
            // truncated body for a whole one.
            session_.reset_stream(s.id, h2::ErrorCode::internal_error);
        }
        // A complete response while the request body still arrives (an early error reply): the
        // queued response must reach the client first, so no RST_STREAM(NO_ERROR) here; the
        // rest of the body is accepted and discarded (see dispatch()).
    }
    if (!s.body.empty()) {
        session_.consume_request_data(s.id, s.body.size());  // keep the connection window whole
    }
    kick_writer();
    for (auto it = exchanges_.begin(); it != exchanges_.end(); ++it) {
        if (it->get() == &ex) {
            exchanges_.erase(it);
            break;
        }
    }
    if (exchanges_.empty()) {
        streams_done_.cancel();
        if (!closing_) {
            // No stream left: the reader's pending read now runs under the idle timeout.
            down_.watchdog.arm(down_.worker.snapshot->config->timeouts.client_idle,
                               TimeoutCause::client_idle);
        }
    }
}

}  // namespace usher::proxy
