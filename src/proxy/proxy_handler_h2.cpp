// ProxyHandler's HTTP/2 half: the steps of an exchange that talk to the client, done through the
// exchange's H2Stream instead of the socket (see h2_connection.hpp). Everything else (routing,
// balancing, retries, the backend side, logging) is proxy_handler.cpp, shared with HTTP/1.
#include <charconv>

#include "core/limits.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/proxy_handler.hpp"
#include "proxy/upstream_side.hpp"

namespace usher::proxy {

using http::BodyFraming;
using net::TimeoutCause;

Task<bool> ProxyHandler::reply_h2(LocalReply r, std::string_view cause) {
    r.json = wants_json_;
    r.hsts = down_.listener.hsts;
    r.close = false;  // a stream ends; the connection stays
    down_.out.clear();
    render_local_reply(r, down_.out);
    log_.status = r.status;
    log_.cause = cause;
    // The HTTP/1 rendering is the one definition of a local reply: read its head back.
    auto parsed = http::h1::parse_response_head(down_.out, parser_limits(config_->limits),
                                                r.head_only ? "HEAD" : "GET", h2_head_);
    if (parsed.kind != http::h1::ParseResult::Kind::complete) {
        co_return false;  // cannot happen: we rendered it; the stream is reset
    }
    const std::string_view body = std::string_view(down_.out).substr(parsed.consumed);
    bool ok = down_.h2->respond(h2_head_, body.empty());
    if (ok && !body.empty()) {
        ok = down_.h2->data(body, true);
    }
    if (ok) {
        log_.bytes_out += body.size();
    }
    co_return false;
}

Task<asio::error_code> ProxyHandler::send_request_body_h2(Upstream& up) {
    H2Stream& s = *down_.h2;
    const bool chunked = down_.request.framing == BodyFraming::chunked;
    auto client_error = [&](asio::error_code ec) { return client_body_failed(ec); };
    for (;;) {
        if (!s.body.empty()) {
            // The connection may append to s.body while we write: forward a swapped-out copy.
            std::swap(h2_body_, s.body);
            s.body.clear();
            const std::string_view data = h2_body_;
            if (max_body_ != 0 && log_.bytes_in + data.size() > max_body_) {
                log_.status = 413;
                log_.cause = "body_too_large";
                co_return asio::error::message_size;
            }
            const asio::error_code ec = co_await write_body(up, data, chunked);
            if (ec) {
                co_return ec;
            }
            log_.bytes_in += data.size();
            s.consumed(data.size());
            h2_body_.clear();
            continue;
        }
        if (s.ended) {
            std::string& raw = h2_body_;
            raw.clear();
            for (const auto& f : s.trailers) {
                raw.append(f.name).append(": ").append(f.value).append("\r\n");
            }
            co_return co_await end_body(up, filter_trailers(raw, chunk_scratch_), chunked);
        }
        if (s.reset) {
            co_return client_error(asio::error::connection_reset);
        }
        down_.watchdog.arm(timeouts_.client_idle, TimeoutCause::client_body);
        co_await s.wait();
        down_.watchdog.disarm();
        if (down_.watchdog.fired() != TimeoutCause::none) {
            co_return client_error(asio::error::timed_out);
        }
    }
}

Task<bool> ProxyHandler::send_response_head_h2(bool end_stream) {
    auto parsed = http::h1::parse_response_head(down_.out, parser_limits(config_->limits),
                                                log_.method, h2_head_);
    if (parsed.kind != http::h1::ParseResult::Kind::complete) {
        log_.cause = "internal_error";
        co_return false;
    }
    if (!down_.h2->respond(h2_head_, end_stream)) {
        log_.cause = "client_closed";
        co_return false;
    }
    co_return true;
}

Task<bool> ProxyHandler::send_data_h2(std::string_view data) {
    H2Stream& s = *down_.h2;
    if (data.empty()) {
        co_return true;
    }
    if (!s.data(data, false)) {
        log_.cause = "client_closed";
        co_return false;
    }
    log_.bytes_out += data.size();
    // Back-pressure: stop reading the backend while the client's window holds our bytes back.
    while (s.send_buffered() > limits::kH2StreamSendHighWater) {
        down_.watchdog.arm(timeouts_.upstream_idle, TimeoutCause::client_write);
        co_await s.wait();
        down_.watchdog.disarm();
        if (s.reset) {
            log_.cause = "client_closed";
            co_return false;
        }
        if (down_.watchdog.fired() != TimeoutCause::none) {
            log_.cause = "client_write_timeout";
            co_return false;
        }
    }
    co_return true;
}

bool ProxyHandler::finish_h2() {
    H2Stream& s = *down_.h2;
    if (s.finished) {
        return true;  // the head carried END_STREAM
    }
    http::HeaderMap& trailers = h2_head_.headers;  // the head went out: reuse its map
    trailer_fields(h2_trailers_, trailers);
    if (!s.finish(trailers)) {
        log_.cause = "client_closed";
        return false;
    }
    return true;
}

}  // namespace usher::proxy
