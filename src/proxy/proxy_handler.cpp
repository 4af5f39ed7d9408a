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

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

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
        start_ = Clock::now();
        lb_.on_request_start(ep);
    }
    void end(bool success) {
        if (ep_ != nullptr) {
            lb_.on_request_end(*ep_, Clock::now() - start_, success);
            ep_ = nullptr;
        }
    }

  private:
    upstream::LoadBalancer& lb_;
    upstream::Endpoint* ep_ = nullptr;
    Clock::time_point start_{};
};

// "1a2b\r\n" for a chunk of `n` bytes.
std::string_view chunk_size_line(std::uint64_t n, std::array<char, 24>& buf) {
    auto r = std::to_chars(buf.data(), buf.data() + 20, n, 16);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    return {buf.data(), static_cast<std::size_t>(r.ptr - buf.data())};
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

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE";
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";

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
    bool has_body = req.framing != BodyFraming::none;
    bool head_only = req.method == "HEAD";
    bool keep = false;
    bool forwarded = false;
    max_body_ = route ? route->config->max_body.value_or(config_->limits.max_body) : 0;

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
        keep = co_await reply(
            {.status = 308, .location = location, .close = has_body, .head_only = head_only},
            "redirect_to_https");
    } else if (req.method == "CONNECT") {
        // A reverse proxy opens no tunnels on a client's say-so (a 2xx would turn the backend
        // connection into one).
        keep = co_await reply({.status = 405, .allow = kAllowedMethods, .close = true},
                              "connect_refused");
    } else if (route == nullptr) {
        keep =
            co_await reply({.status = 404, .close = has_body, .head_only = head_only}, "no_route");
    } else if (const auto& rc = *route->config; max_body_ != 0 &&
                                                req.framing == BodyFraming::content_length &&
                                                req.content_length > max_body_) {
        (void)rc;
        keep = co_await reply({.status = 413, .close = true, .head_only = head_only},
                              "body_too_large");
    } else if (rc.respond) {
        keep = co_await reply({.status = static_cast<std::uint16_t>(rc.respond->status),
                               .body = rc.respond->body,
                               .content_type = rc.respond->content_type,
                               .close = has_body,
                               .head_only = head_only},
                              "direct_response");
    } else if (rc.redirect) {
        keep = co_await reply({.status = static_cast<std::uint16_t>(rc.redirect->status),
                               .location = rc.redirect->to,
                               .close = has_body,
                               .head_only = head_only},
                              "redirect");
    } else if (auto* cluster = down_.worker.route_clusters[route->index]; cluster != nullptr) {
        keep = co_await forward(*route, *cluster, head_size);
        co_await join_body_pump();
        forwarded = true;
    } else {
        keep = co_await reply({.status = 503, .close = true, .head_only = head_only}, "no_cluster");
    }
    if (!forwarded) {
        // A local reply leaves the head behind (and any body: then keep is false, and the
        // connection closes without reading it).
        down_.in.consume(head_size);
    }
    down_.watchdog.clear_total();
    finish_log();
    co_return keep && !down_.worker.draining;
}

Task<bool> ProxyHandler::forward(const CompiledRoute& route, upstream::Cluster& cluster,
                                 std::size_t head_size) {
    using upstream::AttemptResult;
    using upstream::CircuitLimit;
    auto& req = down_.request;
    const auto& rc = *route.config;
    const auto& limits = config_->limits;
    const std::string_view method = log_.method;  // stable copy: req views die on compaction
    const bool head_request = method == "HEAD";
    const bool client_http10 = req.version == http::Version::http10;
    const bool client_keep_alive = req.keep_alive;
    const bool upgrade = req.upgrade && !client_http10;
    const BodyFraming req_framing = req.framing;
    const std::uint64_t req_length = req.content_length;
    const bool expect_continue = req.expect_continue && !client_http10 && down_.h2 == nullptr;
    const config::RetryPolicy* policy = rc.retry ? &*rc.retry : nullptr;
    const bool idempotent = is_idempotent(method);
    upstream::ClusterUse cluster_use(cluster);  // a cluster replaced meanwhile lives on for us
    // A body that is wholly in the read buffer can be sent again on another connection.
    bool replayable =
        req_framing == BodyFraming::none ||
        (req_framing == BodyFraming::content_length && down_.in.size() - head_size >= req_length);

    Upstream up{cluster, nullptr, {}, false};
    upstream::Endpoint* ep = nullptr;
    bool head_consumed = false;
    bool request_complete = false;
    std::uint16_t fail_status = 502;
    std::string_view fail_cause = "no_endpoint";

    // Drops the request from the read buffer once it is no longer needed for a retry. A
    // replayable body sits wholly in the buffer behind the head.
    auto consume_request = [&] {
        if (!head_consumed) {
            down_.in.consume(head_size + (replayable && req_framing == BodyFraming::content_length
                                              ? req_length
                                              : 0));
            head_consumed = true;
        }
    };
    const bool h2_up = cluster.config().protocol == config::UpstreamProtocol::h2;
    auto drop_connection = [&] {
        down_.watchdog.watch_upstream(nullptr);
        up.conn.reset();
        if (up.h2) {
            up.h2->release(*up.h2req);
            up.h2.reset();
        }
        down_.worker.buffers.release(up.buf);
    };
    auto fail = [&](std::uint16_t status, std::string_view cause,
                    std::string_view detail = {}) -> Task<bool> {
        drop_connection();
        consume_request();
        // Nothing reached the client yet: answer. Unless the whole request body was read, the
        // stream's position is unknown, so close afterwards.
        bool body_read = replayable || request_complete;
        co_return co_await reply(
            {.status = status, .detail = detail, .close = !body_read, .head_only = head_request},
            cause);
    };

    // Circuit breaker: requests in flight to this cluster, for the whole process.
    if (auto limit = cluster.begin_request(); limit != CircuitLimit::none) {
        co_return co_await fail(503, upstream::circuit_cause(limit),
                                "upstream circuit breaker open");
    }
    struct InFlight {
        upstream::Cluster& c;
        bool retrying = false;
        ~InFlight() {
            if (retrying) {
                c.end_retry();
            }
            c.end_request();
        }
    } in_flight{cluster};

    // Retries need the body again: hold a small one (up to retry.max_body) before the first try.
    if (policy != nullptr && !replayable && down_.h2 == nullptr &&
        req_framing == BodyFraming::content_length && req_length <= policy->max_body &&
        (idempotent || policy->non_idempotent)) {
        if (!co_await hold_request_body(head_size)) {
            co_return false;
        }
        replayable = true;
    }

    UpstreamHeadParams hp;
    hp.route = &rc;
    hp.options = &config_->proxy;
    hp.path = rewrite_path(rc.rewrite, req.path, path_scratch_) ? std::string_view(path_scratch_)
                                                                : req.path;
    hp.client_ip = down_.remote_text;
    hp.trusted_client = down_.worker.snapshot->trusted_proxies.contains(down_.remote);
    hp.upgrade = upgrade;
    hp.scheme = down_.scheme();

    upstream::TriedSet tried;
    const upstream::PickContext pick_ctx =
        cluster.balancer().needs_hash()
            ? hash_request(cluster.balancer_options(), req, down_.remote)
            : upstream::PickContext{};
    AttemptTracker attempt_tracker(cluster.balancer());
    // Whether the request may reach a backend twice (RFC 9110 section 9.2.2).
    const bool may_resend = idempotent || (policy != nullptr && policy->non_idempotent);
    bool fresh_only = false;        // after a stale pooled connection failed: connect anew
    bool stale_retried = false;     // that happens once per request
    bool client_saw_bytes = false;  // a 1xx was relayed: no retry any more
    std::uint64_t retries_used = 0;

    // An HTTP/2 client reset its stream (or its connection closed): the exchange is abandoned
    // (the watchdog cancelled what it waited on), nothing is answered, nobody is blamed.
    auto client_gone = [&] { return down_.h2 != nullptr && down_.h2->reset; };
    auto abandon = [&] {
        drop_connection();
        consume_request();
        log_.status = 499;
        log_.cause = "client_closed";
    };

    // Whether a failed attempt may be retried on another endpoint (docs/config.md, "retry").
    // Without a retry policy only a failed connect moves on (nothing was sent).
    auto may_retry = [&](AttemptResult why) -> bool {
        if (client_saw_bytes || client_gone() || down_.watchdog.fired() == TimeoutCause::total) {
            return false;
        }
        if (policy == nullptr) {
            return why == AttemptResult::connect_failure;
        }
        const bool wanted = (why == AttemptResult::connect_failure && policy->on_connect_failure) ||
                            (why == AttemptResult::reset && policy->on_reset) ||
                            (why == AttemptResult::timeout && policy->on_timeout) ||
                            why == AttemptResult::status_5xx;  // the caller checked the status
        if (!wanted || retries_used >= policy->retries) {
            return false;
        }
        if (why != AttemptResult::connect_failure &&
            (!replayable || (!idempotent && !policy->non_idempotent))) {
            return false;
        }
        if (!in_flight.retrying) {
            if (cluster.begin_retry() != CircuitLimit::none) {
                log::debug("retry budget of cluster {} exhausted", cluster.name());
                return false;
            }
            in_flight.retrying = true;
        }
        ++retries_used;
        return true;
    };
    // Exponential backoff with full jitter before a retry that sent something.
    auto backoff = [&]() -> Task<void> {
        const auto base = policy->backoff.count();
        if (base <= 0) {
            co_return;
        }
        // backoff × 2^(retry - 1), capped (doubling stops at the cap: no overflow).
        const std::int64_t max = policy->max_backoff.count();
        std::int64_t cap = base;
        for (std::uint64_t i = 1; i < retries_used && cap < max; ++i) {
            cap *= 2;
        }
        cap = std::min(cap, max);
        const auto wait = static_cast<std::int64_t>(
            cluster.random().below(static_cast<std::uint64_t>(std::max<std::int64_t>(cap, 1)) + 1));
        SteadyTimer timer(down_.socket.get_executor(), std::chrono::milliseconds(wait));
        co_await timer.async_wait(use_tuple);
    };
    // The time to wait for each attempt's response head.
    const auto head_timeout = [&] {
        auto t = timeouts_.upstream_header;
        if (policy != nullptr && policy->per_try_timeout.count() > 0 &&
            (t.count() == 0 || policy->per_try_timeout < t)) {
            t = policy->per_try_timeout;
        }
        return t;
    }();

    for (int attempt = 0;; ++attempt) {
        // 1. Pick an endpoint and get a connection: a pooled one, or a new one under the connect
        //    timeout and the circuit breaker.
        bool panic_refused = false;
        ep = cluster.pick(pick_ctx, tried, &panic_refused);
        if (ep == nullptr) {
            if (panic_refused && attempt == 0) {
                co_return co_await fail(503, "no_healthy_endpoint");
            }
            co_return co_await fail(fail_status, fail_cause);
        }
        attempt_tracker.start(*ep);
        if (retries_used > 0) {
            upstream::EndpointCounters::bump(cluster.counters(*ep).retries);
        }
        log_.upstream.assign(ep->label);
        log_.connect_s = -1;
        asio::error_code connect_ec;
        bool tls_failed = false;
        bool connected_now = false;
        auto connect_start = Clock::now();
        if (h2_up) {
            if (fresh_only && ep->h2 && ep->h2->connected()) {
                ep->h2.reset();  // its stream was refused or it went away: a new connection
            }
            connect_ec = co_await connect_h2(up, *ep, tls_failed, connected_now);
        } else {
            // A request that may not be sent twice takes only a recently used connection: a
            // stale one (closed by the backend meanwhile) cannot be retried for it.
            up.conn = fresh_only ? nullptr
                                 : cluster.take_idle(
                                       *ep, may_resend ? std::chrono::milliseconds{}
                                                       : usher::limits::kPoolNonIdempotentMaxIdle);
            up.reused = up.conn != nullptr;
            if (auto* stats = down_.worker.stats; stats != nullptr) {
                stats->on_upstream_connection(cluster.name(), up.reused);
            }
            if (!up.reused) {
                if (auto limit = cluster.begin_connect(); limit != CircuitLimit::none) {
                    co_return co_await fail(503, upstream::circuit_cause(limit),
                                            "upstream circuit breaker open");
                }
                up.conn = std::make_unique<upstream::Connection>(down_.socket.get_executor(), ep);
                down_.watchdog.watch_upstream(&up.conn->socket);
                down_.watchdog.arm(timeouts_.connect, TimeoutCause::connect);
                auto [ec] = co_await up.conn->socket.async_connect(ep->address, use_tuple);
                if (!ec && cluster.tls() != nullptr) {
                    // TLS to the backend: the handshake is part of connecting (same timeout).
                    // SNI and the verified name: the cluster's server_name, else the endpoint's
                    // host.
                    up.conn->tls = std::make_unique<net::TlsSession>(
                        up.conn->socket, *cluster.tls(), cluster.tls()->peer_name(ep->label));
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
            abandon();
            co_return false;
        }
        if (connect_ec) {
            const auto fired = down_.watchdog.fired();
            bool timed_out = fired != TimeoutCause::none;
            log::warn("upstream {} ({}): {} failed: {}", ep->label, cluster.name(),
                      tls_failed ? "TLS handshake" : "connect",
                      timed_out ? std::string("timed out") : connect_ec.message());
            cluster.report(*ep, AttemptResult::connect_failure);
            tried.add(ep->index);
            drop_connection();
            if (fired == TimeoutCause::total) {
                co_return co_await fail(504, "total_timeout");
            }
            fail_status = timed_out ? 503 : 502;
            fail_cause = timed_out    ? "upstream_connect_timeout"
                         : tls_failed ? "upstream_tls_failed"
                                      : "upstream_connect_failed";
            if (!may_retry(AttemptResult::connect_failure)) {
                co_return co_await fail(fail_status, fail_cause);
            }
            continue;  // nothing was sent: try the next endpoint at once
        }
        if (connected_now) {
            log_.connect_s = seconds_between(connect_start, Clock::now());
            if (!h2_up) {
                cluster.count_connection(*up.conn);
                asio::error_code ignored;
                up.conn->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
            }
        }
        if (!h2_up) {
            down_.watchdog.watch_upstream(&up.conn->socket);
        }

        // 2. Send the head (and a body already in the buffer) in one gather write.
        hp.upstream_host = ep->label;
        down_.out.clear();
        write_upstream_head(req, hp, down_.out);
        log_.sent = Clock::now();
        asio::error_code ec;
        if (h2_up) {
            // The HTTP/1 serialization is the one definition of the upstream head (forwarded
            // fields, rewrites): read it back for the HTTP/2 stream.
            const auto parsed =
                http::h1::parse_request_head(down_.out, parser_limits(limits), h2_request_);
            const bool has_body = req_framing == BodyFraming::chunked ||
                                  (req_framing == BodyFraming::content_length && req_length > 0);
            if (parsed.kind != http::h1::ParseResult::Kind::complete) {
                co_return co_await fail(500, "internal_error");
            }
            if (!up.h2->open(h2_request_, cluster.tls() != nullptr ? "https" : "http", !has_body,
                             *up.h2req)) {
                ec = asio::error::connection_reset;  // no stream: retried on a new connection
            } else if (!has_body) {
                request_complete = true;
            } else if (replayable) {
                const auto body = down_.in.view().substr(head_size, req_length);
                ec = co_await write_body(up, body, false);
                if (!ec) {
                    ec = co_await end_body(up, {}, false);
                }
                if (!ec) {
                    log_.bytes_in = body.size();
                    request_complete = true;
                }
            } else if (down_.h2 != nullptr && req_framing == BodyFraming::chunked) {
                // A body of unknown length from an HTTP/2 client (gRPC streaming): forwarded
                // alongside the response, so both directions flow at once.
                start_body_pump(up);
                request_complete = true;
            } else {
                down_.in.consume(head_size);
                head_consumed = true;
                ec = co_await send_request_body(up);
                if (log_.cause == "client_closed") {
                    co_return false;
                }
                if (!log_.cause.empty()) {
                    co_return co_await fail(log_.status, log_.cause);
                }
                request_complete = !ec;
            }
        } else if (replayable) {
            ++up.conn->requests;
            auto body = down_.in.view().substr(head_size, req_length);
            ec = co_await up.write(down_, std::array{cbuf(down_.out), cbuf(body)},
                                   timeouts_.upstream_idle);
            if (!ec) {
                log_.bytes_in = body.size();
                request_complete = true;
            }
        } else {
            ++up.conn->requests;
            ec = co_await up.write(down_, std::array{cbuf(down_.out)}, timeouts_.upstream_idle);
            down_.in.consume(head_size);
            head_consumed = true;
            if (!ec) {
                if (expect_continue && down_.in.empty()) {
                    down_.sent_100_continue = true;
                    auto wec = co_await down_.write(k100Continue, timeouts_.upstream_idle);
                    if (wec) {
                        co_return false;
                    }
                }
                ec = co_await send_request_body(up);
                if (log_.cause == "client_closed") {
                    co_return false;  // the client went away mid-body: nothing to answer
                }
                if (!log_.cause.empty()) {  // body error, too large, client stalled
                    co_return co_await fail(log_.status, log_.cause);
                }
                request_complete = !ec;
            }
        }
        if (ec && client_gone()) {
            abandon();
            co_return false;
        }
        if (ec && up.reused && replayable && may_resend && !stale_retried) {
            fresh_only = stale_retried = true;  // the backend closed the pooled connection
            drop_connection();
            --attempt;
            continue;
        }

        // 3. Await the response head under the per-try (or upstream header) timeout. 1xx heads
        //    are relayed (100 Continue only if usher did not already send one).
        const auto head_deadline =
            head_timeout.count() > 0 ? Clock::now() + head_timeout : Clock::time_point::max();
        enum class Next { response, stale, retry } next = Next::response;
        // Relays an interim (1xx) head; false when the client is gone.
        auto relay_interim = [&]() -> Task<bool> {
            if (down_.h2 != nullptr) {
                client_saw_bytes = true;
                co_return down_.h2->respond(response_, false);
            }
            if (!client_http10 && !(response_.status == 100 && down_.sent_100_continue)) {
                down_.out.clear();
                write_interim_head(response_, down_.out);
                client_saw_bytes = true;
                co_return !co_await down_.write(down_.out, timeouts_.upstream_idle);
            }
            co_return true;
        };
        // What a final head leads to: the response, or a retry of a status the policy retries.
        auto on_final_head = [&] {
            log_.first_byte_s = seconds_between(log_.sent, Clock::now());
            if (policy != nullptr && retry_status(*policy, response_.status)) {
                cluster.report(*ep, response_.status >= 500 ? AttemptResult::status_5xx
                                                            : AttemptResult::success);
                tried.add(ep->index);
                if (may_retry(AttemptResult::status_5xx)) {
                    next = Next::retry;
                }
            }
        };
        while (h2_up) {
            auto& rq = *up.h2req;
            if (!rq.events.empty()) {
                auto* head = std::get_if<http::h2::ResponseHeadEvent>(&rq.events.front());
                if (head == nullptr) {  // cannot happen: the session validates the order
                    cluster.report(*ep, AttemptResult::reset);
                    co_return co_await fail(502, "upstream_invalid_response");
                }
                response_ = std::move(head->head);
                rq.events.pop_front();
                if (response_.status < 200) {
                    if (response_.status != 101 && !co_await relay_interim()) {
                        co_return false;
                    }
                    continue;
                }
                on_final_head();
                break;
            }
            if (client_gone()) {
                abandon();
                co_return false;
            }
            if (rq.closed) {
                if (rq.refused && replayable && may_resend && !stale_retried) {
                    next = Next::stale;  // never processed by the backend: a new connection
                    break;
                }
                log::warn("upstream {} ({}): HTTP/2 stream closed before a response", ep->label,
                          cluster.name());
                cluster.report(*ep, AttemptResult::reset);
                tried.add(ep->index);
                if (!may_retry(AttemptResult::reset)) {
                    co_return co_await fail(502, "upstream_reset");
                }
                next = Next::retry;
                break;
            }
            if (!co_await wait_upstream_h2(up, head_deadline, TimeoutCause::upstream_header)) {
                if (down_.watchdog.fired() == TimeoutCause::total) {
                    co_return co_await fail(504, "total_timeout");
                }
                log::warn("upstream {} ({}): no response head within {}ms", ep->label,
                          cluster.name(), head_timeout.count());
                cluster.report(*ep, AttemptResult::timeout);
                tried.add(ep->index);
                if (!may_retry(AttemptResult::timeout)) {
                    co_return co_await fail(504, "upstream_header_timeout");
                }
                next = Next::retry;
                break;
            }
        }
        while (!h2_up) {
            auto r = http::h1::parse_response_head(up.buf.view(), parser_limits(limits), method,
                                                   response_);
            if (r.kind == http::h1::ParseResult::Kind::error) {
                log::warn("upstream {} ({}): invalid response: {}", ep->label, cluster.name(),
                          r.error.reason);
                cluster.report(*ep, AttemptResult::reset);
                co_return co_await fail(502, "upstream_invalid_response");
            }
            if (r.kind == http::h1::ParseResult::Kind::complete) {
                if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
                    if (!co_await relay_interim()) {
                        co_return false;
                    }
                    up.buf.consume(r.consumed);
                    continue;
                }
                up.buf.consume(r.consumed);  // views stay valid: no read until the head is sent
                on_final_head();
                break;
            }
            if (up.buf.has_storage() && up.buf.full()) {
                if (up.buf.capacity() < limits.max_header_bytes + 1024) {
                    down_.worker.buffers.grow(up.buf, limits.max_header_bytes + 1024);
                } else {
                    cluster.report(*ep, AttemptResult::reset);
                    co_return co_await fail(502, "upstream_invalid_response");
                }
            }
            auto rec =
                co_await up.read_some_until(down_, head_deadline, TimeoutCause::upstream_header);
            if (!rec) {
                continue;
            }
            if (client_gone()) {
                abandon();
                co_return false;
            }
            const auto fired = down_.watchdog.fired();
            if (fired == TimeoutCause::total) {
                co_return co_await fail(504, "total_timeout");
            }
            if (fired != TimeoutCause::none) {
                log::warn("upstream {} ({}): no response head within {}ms", ep->label,
                          cluster.name(), head_timeout.count());
                cluster.report(*ep, AttemptResult::timeout);
                tried.add(ep->index);
                if (!may_retry(AttemptResult::timeout)) {
                    co_return co_await fail(504, "upstream_header_timeout");
                }
                next = Next::retry;
                break;
            }
            if (up.reused && replayable && may_resend && !stale_retried && up.buf.empty()) {
                next = Next::stale;  // a pooled connection closed before answering
                break;
            }
            log::warn("upstream {} ({}): {} before a response", ep->label, cluster.name(),
                      rec.message());
            cluster.report(*ep, AttemptResult::reset);
            tried.add(ep->index);
            if (!may_retry(AttemptResult::reset)) {
                co_return co_await fail(502, "upstream_reset");
            }
            next = Next::retry;
            break;
        }
        if (next == Next::stale) {
            fresh_only = stale_retried = true;
            drop_connection();
            --attempt;
            continue;
        }
        if (next == Next::retry) {
            drop_connection();
            co_await backoff();
            continue;
        }
        break;
    }
    attempt_tracker.end(response_.status < 500);
    if (policy == nullptr || !retry_status(*policy, response_.status)) {
        cluster.report(
            *ep, response_.status >= 500 ? AttemptResult::status_5xx : AttemptResult::success);
    }
    // Sticky sessions: (re)set the cookie unless it already names the endpoint that answered.
    // (pick_ctx.hash is the hash of the request's cookie value.)
    const bool set_sticky = cluster.balancer_kind() == config::BalancerKind::cookie &&
                            (!pick_ctx.has_hash || pick_ctx.hash != upstream::hash_bytes(ep->id));

    // 4. The response head: decide framing towards the client, write it, stream the body.
    consume_request();
    log_.status = response_.status;
    if (response_.status == 101) {
        if (!upgrade) {
            co_return co_await fail(502, "upstream_unexpected_upgrade");
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
    if (head_request) {
        client_framing = BodyFraming::none;
    } else if (response_.framing == BodyFraming::chunked ||
               response_.framing == BodyFraming::until_close) {
        if (client_http10) {
            close_delimited = true;
            client_framing = BodyFraming::until_close;
        } else {
            client_framing = BodyFraming::chunked;
        }
    }
    bool keep = client_keep_alive && request_complete && !close_delimited && !down_.worker.draining;
    down_.out.clear();
    DownstreamHeadParams dp{.route = &rc,
                            .options = &config_->proxy,
                            .framing = client_framing,
                            .keep_alive = keep,
                            .client_http10 = client_http10,
                            .head_request = head_request,
                            .hsts = down_.listener.hsts};
    std::string set_cookie;
    if (set_sticky) {
        set_cookie.append(cluster.balancer_options().hash_name)
            .append("=")
            .append(ep->id)
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
    // 5. Give the upstream connection back when its framing is intact and nothing is left over.
    down_.watchdog.watch_upstream(nullptr);
    if (up.h2) {
        up.h2->release(*up.h2req);
    } else if (response_.keep_alive && response_.framing != BodyFraming::until_close &&
               request_complete && up.buf.empty()) {
        cluster.put_idle(std::move(up.conn));
    }
    down_.worker.buffers.release(up.buf);
    co_return keep;
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
    std::string_view head = down_.h2 != nullptr ? std::string_view{} : std::string_view(down_.out);
    auto idle = timeouts_.upstream_idle;
    auto read_more = [&]() -> Task<bool> {
        auto ec = co_await up.read_some(down_, idle, TimeoutCause::upstream_idle);
        if (ec) {
            auto fired = down_.watchdog.fired();
            log_.cause = fired != TimeoutCause::none ? net::to_string(fired) : "upstream_truncated";
            co_return false;
        }
        co_return true;
    };
    auto send = [&](std::string_view prefix, std::string_view data,
                    std::string_view suffix) -> Task<bool> {
        if (down_.h2 != nullptr) {
            co_return co_await send_data_h2(data);
        }
        auto ec = co_await down_.write(
            std::array{cbuf(head), cbuf(prefix), cbuf(data), cbuf(suffix)}, idle);
        head = {};
        if (ec) {
            log_.cause = "client_write_failed";
            co_return false;
        }
        log_.bytes_out += data.size();
        co_return true;
    };

    if (up.h2) {
        // An HTTP/2 backend: DATA events until the end (with trailers, gRPC's grpc-status).
        auto& rq = *up.h2req;
        std::array<char, 24> size_line{};
        for (;;) {
            if (!rq.events.empty()) {
                auto event = std::move(rq.events.front());
                rq.events.pop_front();
                if (auto* d = std::get_if<http::h2::ResponseDataEvent>(&event)) {
                    const std::size_t n = d->data.size();
                    const bool ok = client_chunked ? co_await send(chunk_size_line(n, size_line),
                                                                   d->data, kCrlf)
                                                   : co_await send({}, d->data, {});
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
                    co_return client_chunked ? co_await send("0\r\n", trailers, kCrlf)
                                             : co_await send({}, {}, {});
                }
                continue;
            }
            if (rq.closed) {
                log_.cause = "upstream_truncated";
                if (!head.empty()) {
                    co_await send({}, {}, {});
                }
                co_return false;
            }
            if (!co_await wait_upstream_h2(
                    up, idle.count() > 0 ? Clock::now() + idle : Clock::time_point::max(),
                    TimeoutCause::upstream_idle)) {
                log_.cause = net::to_string(down_.watchdog.fired());
                if (!head.empty()) {
                    co_await send({}, {}, {});
                }
                co_return false;
            }
        }
    }

    // A truncated body is never completed: the client's connection is closed mid-body, so it sees
    // a broken transfer rather than a shorter well-formed one.
    switch (log_.method == "HEAD" ? BodyFraming::none : response_.framing) {
        case BodyFraming::none:
            co_return co_await send({}, {}, {});
        case BodyFraming::content_length: {
            std::uint64_t remaining = response_.content_length;
            if (remaining == 0) {
                co_return co_await send({}, {}, {});
            }
            while (remaining > 0) {
                if (up.buf.empty() && !co_await read_more()) {
                    if (!head.empty()) {
                        co_await send({}, {}, {});
                    }
                    co_return false;
                }
                auto take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(up.buf.size(), remaining));
                if (!co_await send({}, up.buf.view().substr(0, take), {})) {
                    co_return false;
                }
                up.buf.consume(take);
                remaining -= take;
            }
            co_return true;
        }
        case BodyFraming::chunked: {
            http::h1::ChunkedDecoder decoder;
            std::array<char, 24> size_line{};
            using Kind = http::h1::ChunkedDecoder::Step::Kind;
            for (;;) {
                auto step = decoder.decode(up.buf.view());
                if (step.kind == Kind::error) {
                    log_.cause = "upstream_bad_chunk";
                    if (!head.empty()) {
                        co_await send({}, {}, {});
                    }
                    co_return false;
                }
                if (step.kind == Kind::data) {
                    bool ok = client_chunked
                                  ? co_await send(chunk_size_line(step.data.size(), size_line),
                                                  step.data, kCrlf)
                                  : co_await send({}, step.data, {});
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
                    bool ok =
                        client_chunked
                            ? co_await send("0\r\n", filter_trailers(step.trailers, chunk_scratch_),
                                            kCrlf)
                            : co_await send({}, {}, {});
                    up.buf.consume(step.consumed);
                    co_return ok;
                }
                up.buf.consume(step.consumed);
                if (up.buf.has_storage() && up.buf.full()) {
                    log_.cause = "upstream_bad_chunk";
                    co_return false;
                }
                if (!co_await read_more()) {
                    if (!head.empty()) {
                        co_await send({}, {}, {});
                    }
                    co_return false;
                }
            }
        }
        case BodyFraming::until_close: {
            std::array<char, 24> size_line{};
            for (;;) {
                if (up.buf.empty()) {
                    auto ec = co_await up.read_some(down_, idle, TimeoutCause::upstream_idle);
                    if (ec == asio::error::eof) {
                        // The backend's end of body: terminate our framing properly.
                        bool ok = client_chunked ? co_await send("0\r\n\r\n", {}, {})
                                                 : co_await send({}, {}, {});
                        co_return ok && !close_delimited;  // never reusable: closed upstream
                    }
                    if (ec) {
                        auto fired = down_.watchdog.fired();
                        log_.cause = fired != TimeoutCause::none ? net::to_string(fired)
                                                                 : "upstream_truncated";
                        co_return false;
                    }
                }
                auto data = up.buf.view();
                bool ok = client_chunked
                              ? co_await send(chunk_size_line(data.size(), size_line), data, kCrlf)
                              : co_await send({}, data, {});
                if (!ok) {
                    co_return false;
                }
                up.buf.consume(data.size());
            }
        }
    }
    co_return false;
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
