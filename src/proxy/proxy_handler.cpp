#include "proxy/proxy_handler.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <charconv>

#include "core/log.hpp"
#include "net/tls_client_context.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/router.hpp"
#include "proxy/upstream_side.hpp"
#include "proxy/worker_stats.hpp"

namespace usher::proxy {

using http::BodyFraming;
using net::TimeoutCause;
using Clock = std::chrono::steady_clock;

namespace {

// "1a2b\r\n" for a chunk of `n` bytes.
std::string_view chunk_size_line(std::uint64_t n, std::array<char, 24>& buf) {
    auto r = std::to_chars(buf.data(), buf.data() + 20, n, 16);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    return {buf.data(), static_cast<std::size_t>(r.ptr - buf.data())};
}

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE";

}  // namespace

void ProxyHandler::start_log(const CompiledRoute* route) {
    const auto& req = down_.request;
    log_.start = Clock::now();
    log_.start_wall = std::chrono::system_clock::now();
    log_.version = req.version;
    log_.status = 0;
    log_.bytes_in = log_.bytes_out = 0;
    log_.connect_s = log_.first_byte_s = -1;
    log_.cause = {};
    log_.upstream.clear();
    log_.route = route ? std::string_view(route->config->name) : std::string_view{};
    log_.cluster = route ? std::string_view(route->config->cluster) : std::string_view{};
    // Views into the read buffer die when it is compacted: keep copies (capacity is reused).
    log_.method.assign(req.method);
    // Decided now: the head's views may be gone by the time an error reply is written.
    const auto* accept = req.headers.find("accept");
    wants_json_ = accept != nullptr && prefers_json(accept->value);
    log_.path.assign(req.path.empty() ? req.target : req.path);
    if (down_.worker.access_log != nullptr) {
        log_.host.assign(req.authority);
        const auto* ref = req.headers.find("referer");
        log_.referer.assign(ref ? ref->value : std::string_view{});
        const auto* ua = req.headers.find("user-agent");
        log_.user_agent.assign(ua ? ua->value : std::string_view{});
    }
}

void ProxyHandler::finish_log() {
    auto now = Clock::now();
    if (log_.cause.size() > 0 || log_.status >= 500) {
        log::debug("{} {} {} -> {} {}", down_.remote_text, log_.method, log_.path, log_.status,
                   log_.cause);
    }
    auto* al = down_.worker.access_log;
    auto* stats = down_.worker.stats;
    if (al == nullptr && stats == nullptr) {
        return;
    }
    AccessEntry e;
    e.remote_addr = down_.remote_text;
    e.method = log_.method;
    e.path = log_.path;
    e.version = http::version_string(log_.version);
    e.host = log_.host;
    e.referer = log_.referer;
    e.user_agent = log_.user_agent;
    e.route = log_.route;
    e.cluster = log_.cluster;
    e.upstream = log_.upstream;
    e.cause = log_.cause;
    e.client_subject = down_.client_subject;
    e.status = log_.status;
    e.bytes_in = log_.bytes_in;
    e.bytes_out = log_.bytes_out;
    e.start = log_.start_wall;
    e.total_s = seconds_between(log_.start, now);
    e.connect_s = log_.connect_s;
    e.first_byte_s = log_.first_byte_s;
    if (stats != nullptr) {
        stats->on_request(down_.listener, e);
    }
    if (al != nullptr) {
        al->record(e);
    }
}

Task<bool> ProxyHandler::reply(LocalReply r, std::string_view cause) {
    if (down_.h2 != nullptr) {
        co_return co_await reply_h2(r, cause);
    }
    r.json = wants_json_;
    r.hsts = down_.listener.hsts;  // RFC 6797: on every response over TLS
    r.close = r.close || !down_.request.keep_alive || down_.worker.draining;
    down_.out.clear();
    render_local_reply(r, down_.out);
    log_.status = r.status;
    log_.cause = cause;
    auto ec = co_await down_.write(down_.out, timeouts_.upstream_idle);
    if (!ec && !r.head_only) {
        log_.bytes_out += r.body.size();
    }
    co_return !ec && !r.close;
}

Task<void> ProxyHandler::reply_to_bad_request(const http::h1::ParseError& error,
                                              std::size_t received) {
    config_ = down_.worker.snapshot->config.get();
    timeouts_ = config_->timeouts;
    down_.request.clear();
    start_log(nullptr);
    log_.method.assign("-");
    log_.path.assign("-");
    log_.bytes_in = received;
    LocalReply r;
    r.status = error.status;
    r.detail = error.reason;
    r.close = true;  // the stream's framing is unknown: never read another request from it
    co_await reply(r, "bad_request");
    finish_log();
}

Task<bool> ProxyHandler::handle(std::size_t head_size) {
    // No shared_ptr copy per request (its atomic count is shared by every worker): the worker
    // owns the snapshot and keeps it alive while connections that started on it exist.
    const Snapshot& snapshot = *down_.worker.snapshot;
    config_ = snapshot.config.get();
    auto& req = down_.request;
    if (down_.mtls) {
        // The verified client identity, for routes (`headers` match) and the backend; a
        // client-sent field of that name is never trusted.
        req.headers.remove("x-client-subject");
        if (!down_.client_subject.empty()) {
            req.headers.add("x-client-subject", down_.client_subject);
        }
    }
    const CompiledRoute* route = snapshot.router->match(req, down_.listener.name);
    start_log(route);
    timeouts_ = route ? route->config->timeouts.apply(config_->timeouts) : config_->timeouts;
    down_.watchdog.set_total(timeouts_.total);
    max_body_ = route ? route->config->max_body.value_or(config_->limits.max_body) : 0;

    bool keep = false;
    if (auto answer = local_answer(route)) {
        keep = co_await reply(answer->first, answer->second);
        // A local reply leaves the head behind (and any body: then keep is false, and the
        // connection closes without reading it).
        down_.in.consume(head_size);
    } else {
        keep = co_await forward(*route, *down_.worker.route_clusters[route->index], head_size);
        co_await join_body_pump();
    }
    down_.watchdog.clear_total();
    finish_log();
    co_return keep && !down_.worker.draining;
}

std::optional<std::pair<LocalReply, std::string_view>> ProxyHandler::local_answer(
    const CompiledRoute* route) {
    const auto& req = down_.request;
    const bool has_body = req.framing != BodyFraming::none;
    const bool head_only = req.method == "HEAD";
    using Answer = std::pair<LocalReply, std::string_view>;
    if (down_.listener.redirect_to_https && req.method != "CONNECT") {
        // A plain listener that only sends clients to https (308 keeps the method and body).
        std::string& location = path_scratch_;
        location.assign("https://");
        const std::string_view authority = req.authority;
        const auto colon = authority.rfind(':');
        const bool has_port =
            colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos;
        location.append(has_port ? authority.substr(0, colon) : authority);
        if (down_.listener.redirect_https_port != 443) {
            location.append(":").append(std::to_string(down_.listener.redirect_https_port));
        }
        location.append(req.path.empty() || req.path.front() != '/' ? std::string_view("/")
                                                                    : req.path);
        return Answer{
            {.status = 308, .location = location, .close = has_body, .head_only = head_only},
            "redirect_to_https"};
    }
    if (req.method == "CONNECT") {
        // A reverse proxy opens no tunnels on a client's say-so (a 2xx would turn the backend
        // connection into one).
        return Answer{{.status = 405, .allow = kAllowedMethods, .close = true}, "connect_refused"};
    }
    if (route == nullptr) {
        return Answer{{.status = 404, .close = has_body, .head_only = head_only}, "no_route"};
    }
    const auto& rc = *route->config;
    if (max_body_ != 0 && req.framing == BodyFraming::content_length &&
        req.content_length > max_body_) {
        return Answer{{.status = 413, .close = true, .head_only = head_only}, "body_too_large"};
    }
    if (rc.respond) {
        return Answer{{.status = static_cast<std::uint16_t>(rc.respond->status),
                       .body = rc.respond->body,
                       .content_type = rc.respond->content_type,
                       .close = has_body,
                       .head_only = head_only},
                      "direct_response"};
    }
    if (rc.redirect) {
        return Answer{{.status = static_cast<std::uint16_t>(rc.redirect->status),
                       .location = rc.redirect->to,
                       .close = has_body,
                       .head_only = head_only},
                      "redirect"};
    }
    if (down_.worker.route_clusters[route->index] == nullptr) {
        return Answer{{.status = 503, .close = true, .head_only = head_only}, "no_cluster"};
    }
    return std::nullopt;  // forward it
}

asio::error_code ProxyHandler::client_body_failed(asio::error_code ec) {
    const auto fired = down_.watchdog.fired();
    const bool gone =
        fired == TimeoutCause::client_gone || (down_.h2 != nullptr && down_.h2->reset);
    if (fired != TimeoutCause::none && !gone) {
        log_.status = fired == TimeoutCause::total ? 504 : 408;
        log_.cause = fired == TimeoutCause::total ? "total_timeout" : "client_body_timeout";
    } else {
        log_.status = 499;
        log_.cause = "client_closed";
    }
    return ec;
}

Task<bool> ProxyHandler::hold_request_body(std::size_t head_size) {
    auto& req = down_.request;
    const std::size_t need = head_size + static_cast<std::size_t>(req.content_length);
    if (req.expect_continue && req.version != http::Version::http10 &&
        down_.in.size() == head_size) {
        down_.sent_100_continue = true;
        if (co_await down_.write(k100Continue, timeouts_.upstream_idle)) {
            co_return false;
        }
    }
    const char* before = down_.in.data();
    if (down_.in.capacity() < need) {
        down_.worker.buffers.grow(down_.in, need);
    } else if (down_.in.space_size() < need - down_.in.size()) {
        down_.in.compact();
    }
    while (down_.in.size() < need) {
        auto ec = co_await down_.read_some(timeouts_.client_idle, TimeoutCause::client_body);
        if (ec) {
            const auto fired = down_.watchdog.fired();
            if (fired == TimeoutCause::none) {
                log_.status = 499;
                log_.cause = "client_closed";
                co_return false;
            }
            down_.in.consume(down_.in.size());
            co_return co_await reply(
                {.status = static_cast<std::uint16_t>(fired == TimeoutCause::total ? 504 : 408),
                 .close = true},
                fired == TimeoutCause::total ? "total_timeout" : "client_body_timeout");
            // (a false return: the connection closes)
        }
    }
    if (down_.in.data() != before) {
        // The head moved with the buffer: parse it again so the request's views point at it.
        auto r = http::h1::parse_request_head(down_.in.view(), parser_limits(config_->limits), req);
        if (r.kind != http::h1::ParseResult::Kind::complete || r.consumed != head_size) {
            co_return false;  // cannot happen: the same bytes parsed before
        }
    }
    co_return true;
}

Task<asio::error_code> ProxyHandler::send_request_body(Upstream& up) {
    if (down_.h2 != nullptr) {
        co_return co_await send_request_body_h2(up);
    }
    auto& req = down_.request;
    auto client_error = [&](asio::error_code ec) { return client_body_failed(ec); };

    if (req.framing == BodyFraming::content_length) {
        std::uint64_t remaining = req.content_length;
        while (remaining > 0) {
            if (down_.in.empty()) {
                auto ec =
                    co_await down_.read_some(timeouts_.client_idle, TimeoutCause::client_body);
                if (ec) {
                    co_return client_error(ec);
                }
            }
            auto take = std::min<std::uint64_t>(down_.in.size(), remaining);
            auto ec = co_await write_body(
                up, down_.in.view().substr(0, static_cast<std::size_t>(take)), false);
            if (ec) {
                co_return ec;
            }
            down_.in.consume(static_cast<std::size_t>(take));
            remaining -= take;
            log_.bytes_in += take;
        }
        co_return co_await end_body(up, {}, false);
    }

    // Chunked: decode strictly, re-encode for the backend (extensions dropped, trailers kept).
    http::h1::ChunkedDecoder decoder;
    for (;;) {
        auto step = decoder.decode(down_.in.view());
        using Kind = http::h1::ChunkedDecoder::Step::Kind;
        if (step.kind == Kind::error) {
            log_.status = 400;
            log_.cause = "bad_chunked_body";
            co_return asio::error::invalid_argument;
        }
        if (step.kind == Kind::data) {
            if (max_body_ != 0 && log_.bytes_in + step.data.size() > max_body_) {
                log_.status = 413;
                log_.cause = "body_too_large";
                co_return asio::error::message_size;
            }
            auto ec = co_await write_body(up, step.data, true);
            if (ec) {
                co_return ec;
            }
            log_.bytes_in += step.data.size();
            down_.in.consume(step.consumed);
            continue;
        }
        if (step.kind == Kind::done) {
            auto ec = co_await end_body(up, filter_trailers(step.trailers, chunk_scratch_), true);
            down_.in.consume(step.consumed);
            co_return ec;
        }
        down_.in.consume(step.consumed);  // need_more
        if (down_.in.has_storage() && down_.in.full()) {
            log_.status = 400;
            log_.cause = "bad_chunked_body";
            co_return asio::error::invalid_argument;
        }
        auto ec = co_await down_.read_some(timeouts_.client_idle, TimeoutCause::client_body);
        if (ec) {
            co_return client_error(ec);
        }
    }
}

Task<bool> ProxyHandler::stream_response_body(Upstream& up, bool client_chunked,
                                              bool close_delimited) {
    // HTTP/1: the head is written together with the first body bytes (HTTP/2 sent it already).
    head_pending_ = down_.h2 != nullptr ? std::string_view{} : std::string_view(down_.out);
    if (up.h2) {
        co_return co_await relay_h2_body(up, client_chunked);
    }
    // A truncated body is never completed: the client's connection is closed mid-body, so it sees
    // a broken transfer rather than a shorter well-formed one.
    switch (log_.method == "HEAD" ? BodyFraming::none : response_.framing) {
        case BodyFraming::none:
            co_return co_await send_body({}, {}, {});
        case BodyFraming::content_length:
            co_return co_await relay_length_body(up);
        case BodyFraming::chunked:
            co_return co_await relay_chunked_body(up, client_chunked);
        case BodyFraming::until_close:
            co_return co_await relay_body_to_close(up, client_chunked, close_delimited);
    }
    co_return false;
}

Task<bool> ProxyHandler::send_body(std::string_view prefix, std::string_view data,
                                   std::string_view suffix) {
    if (down_.h2 != nullptr) {
        co_return co_await send_data_h2(data);
    }
    auto ec = co_await down_.write(
        std::array{cbuf(head_pending_), cbuf(prefix), cbuf(data), cbuf(suffix)},
        timeouts_.upstream_idle);
    head_pending_ = {};
    if (ec) {
        log_.cause = "client_write_failed";
        co_return false;
    }
    log_.bytes_out += data.size();
    co_return true;
}

Task<bool> ProxyHandler::read_body(Upstream& up) {
    auto ec = co_await up.read_some(down_, timeouts_.upstream_idle, TimeoutCause::upstream_idle);
    if (ec) {
        note_body_read_failed();
        co_return false;
    }
    co_return true;
}

void ProxyHandler::note_body_read_failed() {
    const auto fired = down_.watchdog.fired();
    log_.cause = fired != TimeoutCause::none ? net::to_string(fired) : "upstream_truncated";
}

Task<bool> ProxyHandler::body_broken() {
    if (!head_pending_.empty()) {
        co_await send_body({}, {}, {});
    }
    co_return false;
}

// An HTTP/2 backend: DATA events until the end (with trailers, gRPC's grpc-status).
Task<bool> ProxyHandler::relay_h2_body(Upstream& up, bool client_chunked) {
    auto& rq = *up.h2req;
    std::array<char, 24> size_line{};
    const auto idle = timeouts_.upstream_idle;
    for (;;) {
        if (!rq.events.empty()) {
            auto event = std::move(rq.events.front());
            rq.events.pop_front();
            if (auto* d = std::get_if<http::h2::ResponseDataEvent>(&event)) {
                const std::size_t n = d->data.size();
                const bool ok = client_chunked ? co_await send_body(chunk_size_line(n, size_line),
                                                                    d->data, kCrlf)
                                               : co_await send_body({}, d->data, {});
                up.h2->consumed(rq, n);
                if (!ok) {
                    co_return false;
                }
            } else if (auto* e = std::get_if<http::h2::ResponseEndEvent>(&event)) {
                std::string& raw = h2_body_;
                raw.clear();
                for (const auto& f : e->trailers) {
                    raw.append(f.name).append(": ").append(f.value).append("\r\n");
                }
                const std::string_view trailers = filter_trailers(raw, chunk_scratch_);
                if (down_.h2 != nullptr) {
                    h2_trailers_ = trailers;  // finish_h2() sends them
                    co_return true;
                }
                co_return client_chunked ? co_await send_body("0\r\n", trailers, kCrlf)
                                         : co_await send_body({}, {}, {});
            }
            continue;
        }
        if (rq.closed) {
            log_.cause = "upstream_truncated";
            co_return co_await body_broken();
        }
        if (!co_await wait_upstream_h2(
                up, idle.count() > 0 ? Clock::now() + idle : Clock::time_point::max(),
                TimeoutCause::upstream_idle)) {
            log_.cause = net::to_string(down_.watchdog.fired());
            co_return co_await body_broken();
        }
    }
}

Task<bool> ProxyHandler::relay_length_body(Upstream& up) {
    std::uint64_t remaining = response_.content_length;
    if (remaining == 0) {
        co_return co_await send_body({}, {}, {});
    }
    while (remaining > 0) {
        if (up.buf.empty() && !co_await read_body(up)) {
            co_return co_await body_broken();
        }
        const auto take =
            static_cast<std::size_t>(std::min<std::uint64_t>(up.buf.size(), remaining));
        if (!co_await send_body({}, up.buf.view().substr(0, take), {})) {
            co_return false;
        }
        up.buf.consume(take);
        remaining -= take;
    }
    co_return true;
}

Task<bool> ProxyHandler::relay_chunked_body(Upstream& up, bool client_chunked) {
    http::h1::ChunkedDecoder decoder;
    std::array<char, 24> size_line{};
    using Kind = http::h1::ChunkedDecoder::Step::Kind;
    for (;;) {
        auto step = decoder.decode(up.buf.view());
        if (step.kind == Kind::error) {
            log_.cause = "upstream_bad_chunk";
            co_return co_await body_broken();
        }
        if (step.kind == Kind::data) {
            const bool ok = client_chunked
                                ? co_await send_body(chunk_size_line(step.data.size(), size_line),
                                                     step.data, kCrlf)
                                : co_await send_body({}, step.data, {});
            if (!ok) {
                co_return false;
            }
            up.buf.consume(step.consumed);
            continue;
        }
        if (step.kind == Kind::done) {
            if (down_.h2 != nullptr) {
                h2_trailers_ = filter_trailers(step.trailers, chunk_scratch_);
            }
            const bool ok =
                client_chunked ? co_await send_body(
                                     "0\r\n", filter_trailers(step.trailers, chunk_scratch_), kCrlf)
                               : co_await send_body({}, {}, {});
            up.buf.consume(step.consumed);
            co_return ok;
        }
        up.buf.consume(step.consumed);
        if (up.buf.has_storage() && up.buf.full()) {
            log_.cause = "upstream_bad_chunk";
            co_return false;
        }
        if (!co_await read_body(up)) {
            co_return co_await body_broken();
        }
    }
}

// A body delimited by the backend closing its connection.
Task<bool> ProxyHandler::relay_body_to_close(Upstream& up, bool client_chunked,
                                             bool close_delimited) {
    std::array<char, 24> size_line{};
    for (;;) {
        if (up.buf.empty()) {
            auto ec =
                co_await up.read_some(down_, timeouts_.upstream_idle, TimeoutCause::upstream_idle);
            if (ec == asio::error::eof) {
                // The backend's end of body: terminate our framing properly.
                const bool ok = client_chunked ? co_await send_body("0\r\n\r\n", {}, {})
                                               : co_await send_body({}, {}, {});
                co_return ok && !close_delimited;  // never reusable: closed upstream
            }
            if (ec) {
                note_body_read_failed();
                co_return false;
            }
        }
        const auto data = up.buf.view();
        const bool ok = client_chunked ? co_await send_body(chunk_size_line(data.size(), size_line),
                                                            data, kCrlf)
                                       : co_await send_body({}, data, {});
        if (!ok) {
            co_return false;
        }
        up.buf.consume(data.size());
    }
}

Task<void> ProxyHandler::tunnel(Upstream& up) {
    using namespace asio::experimental::awaitable_operators;
    auto& server = up.conn->socket;
    down_.watchdog.watch(nullptr, nullptr);  // tunnels have no idle timeout of their own
    asio::error_code ignored;
    // Bytes already read on either side go first.
    if (!down_.in.empty()) {
        auto ec = co_await up.write_all(std::array{cbuf(down_.in.view())});
        down_.in.consume(down_.in.size());
        if (ec) {
            co_return;
        }
    }
    if (!up.buf.empty()) {
        auto ec = co_await down_.write(up.buf.view(), std::chrono::milliseconds{0});
        up.buf.consume(up.buf.size());
        if (ec) {
            co_return;
        }
    }
    auto& pool = down_.worker.buffers;
    auto close_both = [&] {
        server.close(ignored);
        down_.socket.close(ignored);
    };
    // Client -> backend (the client side may be TLS).
    auto upstream_pump = [&]() -> Task<void> {
        pool.acquire(down_.in);
        for (;;) {
            down_.in.clear();
            auto [ec, n] =
                co_await down_.read_into(asio::buffer(down_.in.space(), down_.in.space_size()));
            if (ec) {
                if (ec == asio::error::eof) {
                    if (up.conn->tls) {
                        co_await up.conn->tls->shutdown();
                    }
                    server.shutdown(asio::socket_base::shutdown_send, ignored);  // pass it on
                } else {
                    close_both();
                }
                co_return;
            }
            auto wec = co_await up.write_all(std::array{asio::const_buffer(down_.in.space(), n)});
            log_.bytes_in += n;
            if (wec) {
                close_both();
                co_return;
            }
        }
    };
    // Backend -> client.
    auto downstream_pump = [&]() -> Task<void> {
        pool.acquire(up.buf);
        for (;;) {
            up.buf.clear();
            auto [ec, n] = co_await up.read_into(asio::buffer(up.buf.space(), up.buf.space_size()));
            if (ec) {
                if (ec == asio::error::eof) {
                    co_await down_.shutdown_send();  // pass the half-close
                } else {
                    close_both();
                }
                co_return;
            }
            auto wec = co_await down_.write(std::string_view(up.buf.space(), n),
                                            std::chrono::milliseconds{0});
            log_.bytes_out += n;
            if (wec) {
                close_both();
                co_return;
            }
        }
    };
    co_await (upstream_pump() && downstream_pump());
    down_.worker.buffers.release(up.buf);
    down_.watchdog.watch(&down_.socket, nullptr);
}

}  // namespace usher::proxy
