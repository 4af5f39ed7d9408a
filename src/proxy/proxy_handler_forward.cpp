// ProxyHandler::forward(): a request to a backend. Each attempt picks an endpoint, gets a
// connection (pooled or new), sends the request and awaits the response head; a failed attempt
// moves on to another endpoint when the route's retry policy allows it. Then the response head
// and body go to the client. The steps are coroutines of their own sharing a Forwarding
// (upstream_side.hpp), so every coroutine frame stays small enough for Asio to recycle it: a
// keep-alive request allocates nothing.
#include <algorithm>

#include "core/log.hpp"
#include "net/tls_client_context.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/upstream_side.hpp"
#include "proxy/worker_stats.hpp"

namespace usher::proxy {

using http::BodyFraming;
using net::TimeoutCause;
using upstream::AttemptResult;
using upstream::CircuitLimit;
using Clock = std::chrono::steady_clock;

namespace {

// The hash key of ring_hash, maglev and cookie balancers (docs/config.md, "Balancers"), hashed
// in place.
upstream::PickContext hash_request(const config::BalancerOptions& o, const http::RequestHead& req,
                                   const asio::ip::address& remote) {
    std::string_view key;
    bool found = true;
    std::array<unsigned char, 16> ip{};
    switch (o.hash_on) {
        case config::HashOn::source_ip:
            if (remote.is_v4()) {
                const auto b = remote.to_v4().to_bytes();
                std::copy(b.begin(), b.end(), ip.begin());
                key = std::string_view(reinterpret_cast<const char*>(ip.data()), b.size());
            } else {
                ip = remote.to_v6().to_bytes();
                key = std::string_view(reinterpret_cast<const char*>(ip.data()), ip.size());
            }
            break;
        case config::HashOn::header: {
            const auto* f = req.headers.find(o.hash_name);
            found = f != nullptr;
            key = found ? std::string_view(f->value) : std::string_view{};
            break;
        }
        case config::HashOn::cookie:
            found = find_cookie(req.headers, o.hash_name, key);
            break;
        case config::HashOn::path:
            key = std::string_view(req.path).substr(0, std::string_view(req.path).find('?'));
            break;
    }
    return {.hash = found ? upstream::hash_bytes(key) : 0, .has_hash = found};
}

// RFC 9110 section 9.2.2 (CONNECT excluded: never retried).
bool is_idempotent(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
           method == "PUT" || method == "DELETE";
}

// A final response status the route's retry policy retries (`retry.on`: 5xx or listed).
bool retry_status(const config::RetryPolicy& p, std::uint16_t status) noexcept {
    if (p.on_5xx && status >= 500) {
        return true;
    }
    return std::find(p.on_statuses.begin(), p.on_statuses.end(), status) != p.on_statuses.end();
}

}  // namespace

Task<bool> ProxyHandler::forward(const CompiledRoute& route, upstream::Cluster& cluster,
                                 std::size_t head_size) {
    Forwarding f(route, cluster, head_size);
    const auto& req = down_.request;
    const auto& rc = *route.config;
    f.method = log_.method;  // stable copy: req views die on compaction
    f.head_request = f.method == "HEAD";
    f.client_http10 = req.version == http::Version::http10;
    f.client_keep_alive = req.keep_alive;
    f.upgrade = req.upgrade && !f.client_http10;
    f.req_framing = req.framing;
    f.req_length = req.content_length;
    f.expect_continue = req.expect_continue && !f.client_http10 && down_.h2 == nullptr;
    f.policy = rc.retry ? &*rc.retry : nullptr;
    f.idempotent = is_idempotent(f.method);
    f.may_resend = f.idempotent || (f.policy != nullptr && f.policy->non_idempotent);
    f.h2_up = cluster.config().protocol == config::UpstreamProtocol::h2;
    f.replayable =
        f.req_framing == BodyFraming::none || (f.req_framing == BodyFraming::content_length &&
                                               down_.in.size() - head_size >= f.req_length);

    // Circuit breaker: requests in flight to this cluster, for the whole process.
    if (auto limit = cluster.begin_request(); limit != CircuitLimit::none) {
        co_return co_await fail(f, 503, upstream::circuit_cause(limit),
                                "upstream circuit breaker open");
    }
    f.in_flight = true;

    // Retries need the body again: hold a small one (up to retry.max_body) before the first try.
    const auto* policy = f.policy;
    if (policy != nullptr && !f.replayable && down_.h2 == nullptr &&
        f.req_framing == BodyFraming::content_length && f.req_length <= policy->max_body &&
        (f.idempotent || policy->non_idempotent)) {
        if (!co_await hold_request_body(head_size)) {
            co_return false;
        }
        f.replayable = true;
    }

    f.hp.route = &rc;
    f.hp.options = &config_->proxy;
    f.hp.path = rewrite_path(rc.rewrite, req.path, path_scratch_) ? std::string_view(path_scratch_)
                                                                  : std::string_view(req.path);
    f.hp.client_ip = down_.remote_text;
    f.hp.trusted_client = down_.worker.snapshot->trusted_proxies.contains(down_.remote);
    f.hp.upgrade = f.upgrade;
    f.hp.scheme = down_.scheme();
    if (cluster.balancer().needs_hash()) {
        f.pick_ctx = hash_request(cluster.balancer_options(), req, down_.remote);
    }
    // The time to wait for each attempt's response head.
    f.head_timeout = timeouts_.upstream_header;
    if (policy != nullptr && policy->per_try_timeout.count() > 0 &&
        (f.head_timeout.count() == 0 || policy->per_try_timeout < f.head_timeout)) {
        f.head_timeout = policy->per_try_timeout;
    }

    for (f.attempt = 0;; ++f.attempt) {
        Step step = co_await connect_upstream(f);
        if (step == Step::go_on) {
            step = co_await send_request(f);
        }
        if (step == Step::go_on) {
            step = co_await await_response_head(f);
        }
        switch (step) {
            case Step::go_on:
                break;
            case Step::done:
                co_return f.result;
            case Step::next_endpoint:
                continue;
            case Step::fresh_connection:
                f.fresh_only = f.stale_retried = true;
                drop_connection(f);
                --f.attempt;
                continue;
            case Step::retry:
                drop_connection(f);
                co_await backoff(f);
                continue;
        }
        break;
    }
    co_return co_await relay_response(f);
}

// 1. Pick an endpoint and get a connection: a pooled one, or a new one under the connect timeout
//    and the circuit breaker.
Task<ProxyHandler::Step> ProxyHandler::connect_upstream(Forwarding& f) {
    auto& cluster = f.cluster;
    auto& up = f.up;
    bool panic_refused = false;
    f.ep = cluster.pick(f.pick_ctx, f.tried, &panic_refused);
    if (f.ep == nullptr) {
        const bool none_healthy = panic_refused && f.attempt == 0;
        co_return co_await give_up(
            f, none_healthy ? std::uint16_t{503} : f.fail_status,
            none_healthy ? std::string_view("no_healthy_endpoint") : f.fail_cause);
    }
    auto& ep = *f.ep;
    f.attempts.start(ep);
    if (f.retries_used > 0) {
        upstream::EndpointCounters::bump(cluster.counters(ep).retries);
    }
    log_.upstream.assign(ep.label);
    log_.connect_s = -1;
    asio::error_code connect_ec;
    bool tls_failed = false;
    bool connected_now = false;
    const auto connect_start = Clock::now();
    if (f.h2_up) {
        if (f.fresh_only && ep.h2 && ep.h2->connected()) {
            ep.h2.reset();  // its stream was refused or it went away: a new connection
        }
        connect_ec = co_await connect_h2(up, ep, tls_failed, connected_now);
    } else {
        // A request that may not be sent twice takes only a recently used connection: a stale
        // one (closed by the backend meanwhile) cannot be retried for it.
        up.conn = f.fresh_only ? nullptr
                               : cluster.take_idle(
                                     ep, f.may_resend ? std::chrono::milliseconds{}
                                                      : usher::limits::kPoolNonIdempotentMaxIdle);
        up.reused = up.conn != nullptr;
        if (auto* stats = down_.worker.stats; stats != nullptr) {
            stats->on_upstream_connection(cluster.name(), up.reused);
        }
        if (!up.reused) {
            if (auto limit = cluster.begin_connect(); limit != CircuitLimit::none) {
                co_return co_await give_up(f, 503, upstream::circuit_cause(limit),
                                           "upstream circuit breaker open");
            }
            up.conn = std::make_unique<upstream::Connection>(down_.socket.get_executor(), &ep);
            down_.watchdog.watch_upstream(&up.conn->socket);
            down_.watchdog.arm(timeouts_.connect, TimeoutCause::connect);
            auto [ec] = co_await up.conn->socket.async_connect(ep.address, use_tuple);
            if (!ec && cluster.tls() != nullptr) {
                // TLS to the backend: the handshake is part of connecting (same timeout). SNI
                // and the verified name: the cluster's server_name, else the endpoint's host.
                up.conn->tls = std::make_unique<net::TlsSession>(
                    up.conn->socket, *cluster.tls(), cluster.tls()->peer_name(ep.label));
                ec = co_await up.conn->tls->handshake();
                tls_failed = static_cast<bool>(ec);
            }
            down_.watchdog.disarm();
            cluster.end_connect();
            connect_ec = ec;
            connected_now = !ec;
        }
    }
    if (connect_ec && client_gone()) {
        abandon(f);
        co_return Step::done;
    }
    if (connect_ec) {
        const auto fired = down_.watchdog.fired();
        const bool timed_out = fired != TimeoutCause::none;
        log::warn("upstream {} ({}): {} failed: {}", ep.label, cluster.name(),
                  tls_failed ? "TLS handshake" : "connect",
                  timed_out ? std::string("timed out") : connect_ec.message());
        cluster.report(ep, AttemptResult::connect_failure);
        f.tried.add(ep.index);
        drop_connection(f);
        if (fired == TimeoutCause::total) {
            co_return co_await give_up(f, 504, "total_timeout");
        }
        f.fail_status = timed_out ? 503 : 502;
        f.fail_cause = timed_out    ? "upstream_connect_timeout"
                       : tls_failed ? "upstream_tls_failed"
                                    : "upstream_connect_failed";
        if (!may_retry(f, AttemptResult::connect_failure)) {
            co_return co_await give_up(f, f.fail_status, f.fail_cause);
        }
        co_return Step::next_endpoint;  // nothing was sent: try the next endpoint at once
    }
    if (connected_now) {
        log_.connect_s = seconds_between(connect_start, Clock::now());
        if (!f.h2_up) {
            cluster.count_connection(*up.conn);
            asio::error_code ignored;
            up.conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        }
    }
    if (!f.h2_up) {
        down_.watchdog.watch_upstream(&up.conn->socket);
    }
    co_return Step::go_on;
}

// 2. Send the head (and a body already in the buffer) in one gather write, then a body that
//    streams.
Task<ProxyHandler::Step> ProxyHandler::send_request(Forwarding& f) {
    auto& up = f.up;
    const auto& req = down_.request;
    const std::size_t head_size = f.head_size;
    f.hp.upstream_host = f.ep->label;
    down_.out.clear();
    write_upstream_head(req, f.hp, down_.out);
    log_.sent = Clock::now();
    asio::error_code ec;
    if (f.h2_up) {
        // The HTTP/1 serialization is the one definition of the upstream head (forwarded fields,
        // rewrites): read it back for the HTTP/2 stream.
        const auto parsed =
            http::h1::parse_request_head(down_.out, parser_limits(config_->limits), h2_request_);
        const bool has_body = f.req_framing == BodyFraming::chunked ||
                              (f.req_framing == BodyFraming::content_length && f.req_length > 0);
        if (parsed.kind != http::h1::ParseResult::Kind::complete) {
            co_return co_await give_up(f, 500, "internal_error");
        }
        if (!up.h2->open(h2_request_, f.cluster.tls() != nullptr ? "https" : "http", !has_body,
                         *up.h2req)) {
            ec = asio::error::connection_reset;  // no stream: retried on a new connection
        } else if (!has_body) {
            f.request_complete = true;
        } else if (f.replayable) {
            const auto body = down_.in.view().substr(head_size, f.req_length);
            ec = co_await write_body(up, body, false);
            if (!ec) {
                ec = co_await end_body(up, {}, false);
            }
            if (!ec) {
                log_.bytes_in = body.size();
                f.request_complete = true;
            }
        } else if (down_.h2 != nullptr && f.req_framing == BodyFraming::chunked) {
            // A body of unknown length from an HTTP/2 client (gRPC streaming): forwarded alongside
            // the response, so both directions flow at once.
            start_body_pump(up);
            f.request_complete = true;
        } else {
            down_.in.consume(head_size);
            f.head_consumed = true;
            ec = co_await send_request_body(up);
            if (log_.cause == "client_closed") {
                co_return Step::done;
            }
            if (!log_.cause.empty()) {
                co_return co_await give_up(f, log_.status, log_.cause);
            }
            f.request_complete = !ec;
        }
    } else if (f.replayable) {
        ++up.conn->requests;
        const auto body = down_.in.view().substr(head_size, f.req_length);
        ec = co_await up.write(down_, std::array{cbuf(down_.out), cbuf(body)},
                               timeouts_.upstream_idle);
        if (!ec) {
            log_.bytes_in = body.size();
            f.request_complete = true;
        }
    } else {
        ++up.conn->requests;
        ec = co_await up.write(down_, std::array{cbuf(down_.out)}, timeouts_.upstream_idle);
        down_.in.consume(head_size);
        f.head_consumed = true;
        if (!ec) {
            if (f.expect_continue && down_.in.empty()) {
                down_.sent_100_continue = true;
                if (co_await down_.write(k100Continue, timeouts_.upstream_idle)) {
                    co_return Step::done;
                }
            }
            ec = co_await send_request_body(up);
            if (log_.cause == "client_closed") {
                co_return Step::done;  // the client went away mid-body: nothing to answer
            }
            if (!log_.cause.empty()) {  // body error, too large, client stalled
                co_return co_await give_up(f, log_.status, log_.cause);
            }
            f.request_complete = !ec;
        }
    }
    if (ec && client_gone()) {
        abandon(f);
        co_return Step::done;
    }
    if (ec && up.reused && f.replayable && f.may_resend && !f.stale_retried) {
        co_return Step::fresh_connection;  // the backend closed the pooled connection
    }
    co_return Step::go_on;
}

// 3. Await the response head under the per-try (or upstream header) timeout. 1xx heads are
//    relayed (100 Continue only if usher did not already send one).
Task<ProxyHandler::Step> ProxyHandler::await_response_head(Forwarding& f) {
    auto& up = f.up;
    auto& cluster = f.cluster;
    auto& ep = *f.ep;
    const auto head_deadline =
        f.head_timeout.count() > 0 ? Clock::now() + f.head_timeout : Clock::time_point::max();
    // A failed attempt: retried when the policy allows, else answered with `status`.
    auto give_up_or_retry = [&](AttemptResult why, std::uint16_t status,
                                std::string_view cause) -> Task<Step> {
        cluster.report(ep, why);
        f.tried.add(ep.index);
        if (!may_retry(f, why)) {
            co_return co_await give_up(f, status, cause);
        }
        co_return Step::retry;
    };
    // The watchdog fired while waiting for the head: the request's total time is over (504), or
    // this attempt's (retried, or 504).
    auto timed_out = [&]() -> Task<Step> {
        if (down_.watchdog.fired() == TimeoutCause::total) {
            co_return co_await give_up(f, 504, "total_timeout");
        }
        log::warn("upstream {} ({}): no response head within {}ms", ep.label, cluster.name(),
                  f.head_timeout.count());
        co_return co_await give_up_or_retry(AttemptResult::timeout, 504, "upstream_header_timeout");
    };
    while (f.h2_up) {
        auto& rq = *up.h2req;
        if (!rq.events.empty()) {
            auto* head = std::get_if<http::h2::ResponseHeadEvent>(&rq.events.front());
            if (head == nullptr) {  // cannot happen: the session validates the order
                cluster.report(ep, AttemptResult::reset);
                co_return co_await give_up(f, 502, "upstream_invalid_response");
            }
            response_ = std::move(head->head);
            rq.events.pop_front();
            if (response_.status < 200) {
                if (response_.status != 101 && !co_await relay_interim(f)) {
                    co_return Step::done;
                }
                continue;
            }
            co_return on_final_head(f);
        }
        if (client_gone()) {
            abandon(f);
            co_return Step::done;
        }
        if (rq.closed) {
            if (rq.refused && f.replayable && f.may_resend && !f.stale_retried) {
                co_return Step::fresh_connection;  // never processed by the backend
            }
            log::warn("upstream {} ({}): HTTP/2 stream closed before a response", ep.label,
                      cluster.name());
            co_return co_await give_up_or_retry(AttemptResult::reset, 502, "upstream_reset");
        }
        if (!co_await wait_upstream_h2(up, head_deadline, TimeoutCause::upstream_header)) {
            co_return co_await timed_out();
        }
    }
    const auto& limits = config_->limits;
    for (;;) {
        auto r = http::h1::parse_response_head(up.buf.view(), parser_limits(limits), f.method,
                                               response_);
        if (r.kind == http::h1::ParseResult::Kind::error) {
            log::warn("upstream {} ({}): invalid response: {}", ep.label, cluster.name(),
                      r.error.reason);
            cluster.report(ep, AttemptResult::reset);
            co_return co_await give_up(f, 502, "upstream_invalid_response");
        }
        if (r.kind == http::h1::ParseResult::Kind::complete) {
            if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
                if (!co_await relay_interim(f)) {
                    co_return Step::done;
                }
                up.buf.consume(r.consumed);
                continue;
            }
            up.buf.consume(r.consumed);  // views stay valid: no read until the head is sent
            co_return on_final_head(f);
        }
        if (up.buf.has_storage() && up.buf.full()) {
            if (up.buf.capacity() < limits.max_header_bytes + 1024) {
                down_.worker.buffers.grow(up.buf, limits.max_header_bytes + 1024);
            } else {
                cluster.report(ep, AttemptResult::reset);
                co_return co_await give_up(f, 502, "upstream_invalid_response");
            }
        }
        auto rec = co_await up.read_some_until(down_, head_deadline, TimeoutCause::upstream_header);
        if (!rec) {
            continue;
        }
        if (client_gone()) {
            abandon(f);
            co_return Step::done;
        }
        if (down_.watchdog.fired() != TimeoutCause::none) {
            co_return co_await timed_out();
        }
        if (up.reused && f.replayable && f.may_resend && !f.stale_retried && up.buf.empty()) {
            co_return Step::fresh_connection;  // a pooled connection closed before answering
        }
        log::warn("upstream {} ({}): {} before a response", ep.label, cluster.name(),
                  rec.message());
        co_return co_await give_up_or_retry(AttemptResult::reset, 502, "upstream_reset");
    }
}

// Relays an interim (1xx) head; false when the client is gone.
Task<bool> ProxyHandler::relay_interim(Forwarding& f) {
    if (down_.h2 != nullptr) {
        f.client_saw_bytes = true;
        co_return down_.h2->respond(response_, false);
    }
    if (!f.client_http10 && !(response_.status == 100 && down_.sent_100_continue)) {
        down_.out.clear();
        write_interim_head(response_, down_.out);
        f.client_saw_bytes = true;
        co_return !co_await down_.write(down_.out, timeouts_.upstream_idle);
    }
    co_return true;
}

// What a final head leads to: the response, or a retry of a status the policy retries.
ProxyHandler::Step ProxyHandler::on_final_head(Forwarding& f) {
    log_.first_byte_s = seconds_between(log_.sent, Clock::now());
    if (f.policy != nullptr && retry_status(*f.policy, response_.status)) {
        f.cluster.report(
            *f.ep, response_.status >= 500 ? AttemptResult::status_5xx : AttemptResult::success);
        f.tried.add(f.ep->index);
        if (may_retry(f, AttemptResult::status_5xx)) {
            return Step::retry;
        }
    }
    return Step::go_on;
}

// 4. The response head: decide framing towards the client, write it, stream the body. 5. Give
//    the upstream connection back when its framing is intact and nothing is left over.
Task<bool> ProxyHandler::relay_response(Forwarding& f) {
    auto& up = f.up;
    auto& cluster = f.cluster;
    auto& ep = *f.ep;
    const auto& rc = *f.route.config;
    f.attempts.end(response_.status < 500);
    if (f.policy == nullptr || !retry_status(*f.policy, response_.status)) {
        cluster.report(
            ep, response_.status >= 500 ? AttemptResult::status_5xx : AttemptResult::success);
    }
    // Sticky sessions: (re)set the cookie unless it already names the endpoint that answered.
    // (pick_ctx.hash is the hash of the request's cookie value.)
    const bool set_sticky =
        cluster.balancer_kind() == config::BalancerKind::cookie &&
        (!f.pick_ctx.has_hash || f.pick_ctx.hash != upstream::hash_bytes(ep.id));

    consume_request(f);
    log_.status = response_.status;
    if (response_.status == 101) {
        if (!f.upgrade) {
            co_return co_await fail(f, 502, "upstream_unexpected_upgrade");
        }
        down_.out.clear();
        DownstreamHeadParams dp{.route = &rc, .options = &config_->proxy, .upgrade = true};
        write_downstream_head(response_, dp, down_.out);
        if (co_await down_.write(down_.out, timeouts_.upstream_idle)) {
            co_return false;
        }
        co_await tunnel(up);
        co_return false;
    }

    BodyFraming client_framing = response_.framing;
    bool close_delimited = false;
    if (f.head_request) {
        client_framing = BodyFraming::none;
    } else if (response_.framing == BodyFraming::chunked ||
               response_.framing == BodyFraming::until_close) {
        if (f.client_http10) {
            close_delimited = true;
            client_framing = BodyFraming::until_close;
        } else {
            client_framing = BodyFraming::chunked;
        }
    }
    const bool keep =
        f.client_keep_alive && f.request_complete && !close_delimited && !down_.worker.draining;
    down_.out.clear();
    DownstreamHeadParams dp{.route = &rc,
                            .options = &config_->proxy,
                            .framing = client_framing,
                            .keep_alive = keep,
                            .client_http10 = f.client_http10,
                            .head_request = f.head_request,
                            .hsts = down_.listener.hsts};
    std::string& set_cookie = path_scratch_;  // the upstream path is no longer needed
    if (set_sticky) {
        set_cookie.assign(cluster.balancer_options().hash_name)
            .append("=")
            .append(ep.id)
            .append("; Path=/; HttpOnly");
        dp.set_cookie = set_cookie;
    }
    write_downstream_head(response_, dp, down_.out);

    bool ok = false;
    if (down_.h2 != nullptr) {
        // One stream: no chunking (DATA frames carry the body), END_STREAM or trailers end it.
        h2_trailers_ = {};
        ok = co_await send_response_head_h2(client_framing == BodyFraming::none ||
                                            (client_framing == BodyFraming::content_length &&
                                             response_.content_length == 0)) &&
             co_await stream_response_body(up, false, false) && finish_h2();
    } else {
        ok = co_await stream_response_body(up, client_framing == BodyFraming::chunked,
                                           close_delimited);
    }
    if (!ok) {
        co_return false;
    }
    down_.watchdog.watch_upstream(nullptr);
    if (up.h2) {
        up.h2->release(*up.h2req);
    } else if (response_.keep_alive && response_.framing != BodyFraming::until_close &&
               f.request_complete && up.buf.empty()) {
        cluster.put_idle(std::move(up.conn));
    }
    down_.worker.buffers.release(up.buf);
    co_return keep;
}

// Nothing reached the client yet: answer. Unless the whole request body was read, the stream's
// position is unknown, so close afterwards.
Task<bool> ProxyHandler::fail(Forwarding& f, std::uint16_t status, std::string_view cause,
                              std::string_view detail) {
    drop_connection(f);
    consume_request(f);
    const bool body_read = f.replayable || f.request_complete;
    co_return co_await reply(
        {.status = status, .detail = detail, .close = !body_read, .head_only = f.head_request},
        cause);
}

Task<ProxyHandler::Step> ProxyHandler::give_up(Forwarding& f, std::uint16_t status,
                                               std::string_view cause, std::string_view detail) {
    f.result = co_await fail(f, status, cause, detail);
    co_return Step::done;
}

void ProxyHandler::drop_connection(Forwarding& f) {
    auto& up = f.up;
    down_.watchdog.watch_upstream(nullptr);
    up.conn.reset();
    if (up.h2) {
        up.h2->release(*up.h2req);
        up.h2.reset();
    }
    down_.worker.buffers.release(up.buf);
}

// Drops the request from the read buffer once it is no longer needed for a retry. A replayable
// body sits wholly in the buffer behind the head.
void ProxyHandler::consume_request(Forwarding& f) {
    if (!f.head_consumed) {
        down_.in.consume(f.head_size + (f.replayable && f.req_framing == BodyFraming::content_length
                                            ? f.req_length
                                            : 0));
        f.head_consumed = true;
    }
}

// An HTTP/2 client reset its stream (or its connection closed): the exchange is abandoned (the
// watchdog cancelled what it waited on), nothing is answered, nobody is blamed.
bool ProxyHandler::client_gone() const noexcept {
    return down_.h2 != nullptr && down_.h2->reset;
}

void ProxyHandler::abandon(Forwarding& f) {
    drop_connection(f);
    consume_request(f);
    log_.status = 499;
    log_.cause = "client_closed";
}

// Whether a failed attempt may be retried on another endpoint (docs/config.md, "retry").
// Without a retry policy only a failed connect moves on (nothing was sent).
bool ProxyHandler::may_retry(Forwarding& f, AttemptResult why) {
    const auto* policy = f.policy;
    if (f.client_saw_bytes || client_gone() || down_.watchdog.fired() == TimeoutCause::total) {
        return false;
    }
    if (policy == nullptr) {
        return why == AttemptResult::connect_failure;
    }
    const bool wanted = (why == AttemptResult::connect_failure && policy->on_connect_failure) ||
                        (why == AttemptResult::reset && policy->on_reset) ||
                        (why == AttemptResult::timeout && policy->on_timeout) ||
                        why == AttemptResult::status_5xx;  // the caller checked the status
    if (!wanted || f.retries_used >= policy->retries) {
        return false;
    }
    if (why != AttemptResult::connect_failure &&
        (!f.replayable || (!f.idempotent && !policy->non_idempotent))) {
        return false;
    }
    if (!f.retrying) {
        if (f.cluster.begin_retry() != CircuitLimit::none) {
            log::debug("retry budget of cluster {} exhausted", f.cluster.name());
            return false;
        }
        f.retrying = true;
    }
    ++f.retries_used;
    return true;
}

// Exponential backoff with full jitter before a retry that sent something.
Task<void> ProxyHandler::backoff(Forwarding& f) {
    const auto base = f.policy->backoff.count();
    if (base <= 0) {
        co_return;
    }
    // backoff × 2^(retry - 1), capped (doubling stops at the cap: no overflow).
    const std::int64_t max = f.policy->max_backoff.count();
    std::int64_t cap = base;
    for (std::uint64_t i = 1; i < f.retries_used && cap < max; ++i) {
        cap *= 2;
    }
    cap = std::min(cap, max);
    const auto wait = static_cast<std::int64_t>(
        f.cluster.random().below(static_cast<std::uint64_t>(std::max<std::int64_t>(cap, 1)) + 1));
    SteadyTimer timer(down_.socket.get_executor(), std::chrono::milliseconds(wait));
    co_await timer.async_wait(use_tuple);
}

}  // namespace usher::proxy
