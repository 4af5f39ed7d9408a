#pragma once
// Plain config structs: what the YAML loader (config/loader.cpp, the only yaml-cpp user) produces
// after validation. A Config is immutable once built and shared as std::shared_ptr<const Config>.
// Defaults come from core/limits.hpp. docs/config.md documents every key.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/limits.hpp"

namespace usher::config {

using Duration = std::chrono::milliseconds;

struct SocketAddress {
    std::string host;  // numeric IPv4/IPv6 literal or hostname
    std::uint16_t port = 0;
    std::string to_string() const;  // "host:port", IPv6 in brackets

    bool operator==(const SocketAddress&) const = default;
};

struct Timeouts {
    Duration connect = limits::kConnectTimeout;
    Duration request_header = limits::kRequestHeaderTimeout;
    Duration client_idle = limits::kClientIdleTimeout;
    Duration upstream_header = limits::kUpstreamHeaderTimeout;
    Duration upstream_idle = limits::kUpstreamIdleTimeout;
    Duration total = limits::kTotalTimeout;  // 0 = none
};

// A route may override any subset of the global timeouts.
struct TimeoutOverrides {
    std::optional<Duration> connect, request_header, client_idle, upstream_header, upstream_idle,
        total;
    Timeouts apply(const Timeouts& base) const;
};

struct Limits {
    std::uint64_t max_request_line = limits::kMaxRequestLine;
    std::uint64_t max_header_bytes = limits::kMaxHeaderBytes;
    std::uint64_t max_header_count = limits::kMaxHeaderCount;
    std::uint64_t max_body = limits::kMaxBodyBytes;  // 0 = unlimited
    bool allow_bare_lf = false;
};

// One certificate of a TLS listener. Paths are as resolved by the loader: a relative path in the
// file is taken relative to the config file's directory.
struct TlsCertificate {
    std::string cert;  // PEM: the leaf certificate first, then its chain
    std::string key;   // PEM private key matching the leaf
    std::string ocsp;  // optional DER OCSP response stapled to handshakes; "" = none

    bool operator==(const TlsCertificate&) const = default;
};

enum class TlsVersion { tls1_2, tls1_3 };
enum class ClientAuth { none, optional, require };

// `listeners[].tls`: TLS termination (docs/config.md, "tls"). Certificate checks (readable, key
// matches, validity) are not done by the loader but by net::check_tls_config / TlsServerContext.
struct ListenerTls {
    std::vector<TlsCertificate> certificates;  // >= 1; the first is the default (no/unknown SNI)
    TlsVersion min_version = TlsVersion::tls1_2;
    std::vector<std::string> alpn{"h2", "http/1.1"};  // offered, in server preference order
    std::string client_ca;  // PEM CA bundle for client certificates; "" = no mTLS
    ClientAuth client_auth = ClientAuth::none;  // require when client_ca is set, unless configured
    Duration handshake_timeout = limits::kTlsHandshakeTimeout;
    bool session_tickets = true;

    bool operator==(const ListenerTls&) const = default;
};

// Strict-Transport-Security added to responses on a TLS listener.
struct Hsts {
    std::chrono::seconds max_age = limits::kHstsMaxAge;
    bool include_subdomains = false;
    bool preload = false;
    // "max-age=31536000; includeSubDomains; preload"
    std::string header_value() const;

    bool operator==(const Hsts&) const = default;
};

// HTTP/2 towards clients (TLS listeners negotiate it with ALPN `h2`; plain ones take it with
// prior knowledge when h2c is on). Sizes are what usher advertises in its SETTINGS.
struct Http2 {
    bool h2c = false;  // plain listeners: accept the HTTP/2 preface (RFC 9113 section 3.3)
    std::uint32_t max_concurrent_streams = limits::kH2MaxConcurrentStreams;
    std::uint32_t initial_stream_window = limits::kH2InitialStreamWindow;
    std::uint32_t connection_window = limits::kH2ConnectionWindow;
    std::uint32_t max_header_list_size = limits::kH2MaxHeaderListSize;

    bool operator==(const Http2&) const = default;
};

struct Listener {
    std::string name;  // defaults to the address string
    SocketAddress address;
    int backlog = limits::kListenBacklog;
    std::uint64_t max_connections = limits::kMaxConnectionsPerListener;  // 0 = unlimited
    std::optional<ListenerTls> tls;                                      // set: a TLS listener
    // Plain listeners only: answer every request with 308 to https://host[:port]/path?query.
    bool redirect_to_https = false;
    std::uint16_t redirect_https_port = 443;  // 443 is left out of the Location URL
    std::optional<Hsts> hsts;                 // TLS listeners only
    Http2 http2;

    bool operator==(const Listener&) const = default;
};

enum class StringMatchKind { exact, prefix, regex, present };
struct StringMatch {
    StringMatchKind kind = StringMatchKind::exact;
    std::string value;  // exact/prefix text or RE2 pattern; empty for present
};

// A header, cookie or query-parameter condition.
struct NamedMatch {
    std::string name;
    StringMatch match;  // kind exact ("equals"), regex, or present
};

struct RouteMatch {
    std::vector<std::string>
        hosts;  // exact "a.example.com" or wildcard "*.example.com"; empty = any
    std::optional<StringMatch> path;   // exact / prefix / regex; absent = any
    std::vector<std::string> methods;  // empty = any
    std::vector<NamedMatch> headers;
    std::vector<NamedMatch> cookies;
    std::vector<NamedMatch> query;
    std::vector<std::string> listeners;  // listener names; empty = all
};

struct HeaderEdits {
    std::vector<std::pair<std::string, std::string>> set;  // replace (or add)
    std::vector<std::pair<std::string, std::string>> add;  // append
    std::vector<std::string> remove;
    bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct Rewrite {
    std::optional<std::string> strip_prefix;    // remove this prefix from the path
    std::optional<std::string> replace_prefix;  // with strip_prefix: put this in its place
    std::optional<std::string> host;            // replace Host sent upstream
};

struct Redirect {
    int status = 302;  // 301, 302, 307 or 308
    std::string to;    // absolute URL or path
};

struct DirectResponse {
    int status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
};

// When and how a route retries a failed attempt on another endpoint (docs/config.md, "retry").
// Without `retry`, a route still moves to the next endpoint after a failed connect (nothing was
// sent) and retries once after a stale pooled connection closed under it.
struct RetryPolicy {
    std::uint64_t retries = limits::kRetries;  // extra attempts after the first
    // Conditions (`retry.on`): connect_failure, reset (closed or reset before a response head),
    // timeout (per-try or upstream header timeout), 5xx (any status >= 500) and listed response
    // statuses (e.g. 502, 503, 504). Default: connect_failure, reset, timeout.
    bool on_connect_failure = true;
    bool on_reset = true;
    bool on_timeout = true;
    bool on_5xx = false;
    std::vector<std::uint16_t> on_statuses;
    bool non_idempotent = false;  // also retry POST/PATCH/CONNECT/LOCK...
    Duration per_try_timeout{0};  // time to the response head per attempt; 0 = upstream_header
    Duration backoff = limits::kRetryBackoff;         // base of exponential backoff (full jitter)
    Duration max_backoff = limits::kRetryMaxBackoff;  // cap; 10 × backoff if only that is set
    std::uint64_t max_body = limits::kRetryMaxBody;   // bodies up to this size are held for replay
};

struct Route {
    std::string name;  // defaults to "route[N]"
    RouteMatch match;
    // Exactly one action:
    std::string cluster;
    std::optional<Redirect> redirect;
    std::optional<DirectResponse> respond;

    Rewrite rewrite;
    HeaderEdits request_headers;
    HeaderEdits response_headers;
    TimeoutOverrides timeouts;
    std::optional<std::uint64_t> max_body;  // overrides limits.max_body
    std::optional<RetryPolicy> retry;
};

struct Endpoint {
    SocketAddress address;
    std::uint32_t weight = 1;
    bool drain = false;  // start drained: no new requests (the admin API can undrain)

    bool operator==(const Endpoint&) const = default;
};

struct Pool {
    std::uint64_t max_idle = limits::kPoolMaxIdle;
    Duration idle_timeout = limits::kPoolIdleTimeout;
    std::uint64_t max_requests = limits::kPoolMaxRequests;  // 0 = unlimited

    bool operator==(const Pool&) const = default;
};

enum class BalancerKind {
    round_robin,
    least_request,
    random,
    ring_hash,
    maglev,
    cookie,
    peak_ewma
};

// The kind as written in the config ("round_robin", "least_request", ...).
const char* balancer_name(BalancerKind kind) noexcept;

// What ring_hash and maglev hash (the cookie balancer always hashes its cookie).
enum class HashOn { source_ip, header, cookie, path };

// A balancer's settings beyond its kind (docs/config.md, "Balancers").
struct BalancerOptions {
    HashOn hash_on = HashOn::source_ip;  // ring_hash, maglev; cookie: always HashOn::cookie
    std::string hash_name;  // the header or cookie hashed; cookie balancer: its cookie's name
    Duration decay = limits::kPeakEwmaDecay;  // peak_ewma: latency decay time

    bool operator==(const BalancerOptions&) const = default;
};

enum class HealthCheckKind { http, tcp };

// An inclusive range of expected statuses ("200-399", or "204" for one).
struct StatusRange {
    std::uint16_t low = 200;
    std::uint16_t high = 399;

    bool operator==(const StatusRange&) const = default;
};

// Active health checking of every endpoint of a cluster, by one checker for the whole process.
struct HealthCheck {
    HealthCheckKind kind = HealthCheckKind::http;
    std::string path = "/";      // http: request target
    std::string method = "GET";  // http
    std::string host;            // http: Host header; empty = the endpoint's host:port
    std::vector<StatusRange> expected_statuses{StatusRange{}};  // http
    std::string body_contains;  // http: required substring of the body (first 64 KiB)
    Duration interval = limits::kHealthInterval;
    Duration jitter = limits::kHealthJitter;
    Duration timeout = limits::kHealthTimeout;
    std::uint64_t healthy_threshold = limits::kHealthyThreshold;
    std::uint64_t unhealthy_threshold = limits::kUnhealthyThreshold;

    bool operator==(const HealthCheck&) const = default;
};

// Passive health checking: an endpoint that fails `consecutive_failures` requests in a row
// (connect failure, reset, timeout or 5xx, as counted by every worker together) is ejected for
// base_ejection_time × 2^(ejections so far), capped at max_ejection_time.
struct OutlierDetection {
    std::uint64_t consecutive_failures = limits::kOutlierConsecutiveFailures;
    bool count_5xx = true;  // false: only connect failures, resets and timeouts count
    Duration base_ejection_time = limits::kOutlierBaseEjection;
    Duration max_ejection_time = limits::kOutlierMaxEjection;
    // Never eject more than this share of the cluster (at least one endpoint may always go).
    std::uint64_t max_ejected_percent = limits::kOutlierMaxEjectedPercent;

    bool operator==(const OutlierDetection&) const = default;
};

// What to do when no endpoint is healthy: `spread` over all of them anyway (Envoy's panic
// routing), or `fail`: answer 503 at once.
enum class PanicMode { spread, fail };

// Per-cluster limits for the whole process (0 = unlimited). Over a limit: a fast 503 whose
// access-log cause names it (circuit_open_connections, ..._pending, ..._requests); over
// max_retries the retry is simply not made.
struct CircuitBreaker {
    std::uint64_t max_connections = 0;  // upstream connections open (in use + idle)
    std::uint64_t max_pending = 0;      // requests waiting for a connection (connecting)
    std::uint64_t max_requests = 0;     // requests in flight to the cluster
    std::uint64_t max_retries = 0;      // retries in flight to the cluster

    bool operator==(const CircuitBreaker&) const = default;
};

// Retries may be at most `percent` % of the requests in flight to the cluster (counted per
// worker), but `min_retries` concurrent retries are always allowed.
struct RetryBudget {
    std::uint64_t percent = limits::kRetryBudgetPercent;
    std::uint64_t min_retries = limits::kRetryBudgetMinRetries;

    bool operator==(const RetryBudget&) const = default;
};

// `clusters.<name>.tls`, or https:// endpoints: TLS to every endpoint of the cluster
// (docs/config.md, "Clusters over TLS"). Paths are resolved like a listener's; whether the files
// hold usable certificates is checked by net::check_tls_config / TlsClientContext::build.
struct UpstreamTls {
    bool enabled = true;
    std::string ca_file;      // PEM CA bundle the backends' certificates are verified against;
                              // "" = the system store
    bool verify = true;       // false: any certificate is accepted (logged as a warning)
    std::string server_name;  // SNI and the name verified; "" = each endpoint's host
    std::string client_cert;  // PEM chain presented to backends that require mTLS; "" = none
    std::string client_key;   // its key (set together with client_cert)
    bool http2 = false;       // ALPN offers h2 only (the cluster's protocol is h2)

    bool operator==(const UpstreamTls&) const = default;
};

// What usher speaks to a cluster's endpoints: HTTP/1.1 (a pool of keep-alive connections) or
// HTTP/2 (one multiplexed connection per endpoint and worker; h2c, or TLS with ALPN h2), which
// gRPC backends need.
enum class UpstreamProtocol { http1, h2 };

struct Cluster {
    std::string name;
    std::vector<Endpoint> endpoints;
    BalancerKind balancer = BalancerKind::round_robin;
    BalancerOptions balancer_options;
    Pool pool;
    std::optional<HealthCheck> health_check;  // none: endpoints are always considered healthy
    std::optional<OutlierDetection> outlier_detection;  // none: no passive ejection
    PanicMode panic = PanicMode::spread;
    Duration slow_start{0};  // ramp a recovered or new endpoint's share over this time; 0 = off
    CircuitBreaker circuit_breaker;
    RetryBudget retry_budget;
    Duration resolve_interval = limits::kResolveInterval;  // DNS re-resolution of hostnames
    std::optional<UpstreamTls> tls;  // set: TLS to the endpoints (https:// or a `tls` key)
    UpstreamProtocol protocol = UpstreamProtocol::http1;

    bool operator==(const Cluster&) const = default;
};

struct ProxyOptions {
    std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-* are kept and appended to
    bool forwarded = false;                    // also send RFC 7239 Forwarded
    bool via = true;                           // add "Via: 1.1 usher"
    bool preserve_host = true;                 // send the client's Host upstream
    std::vector<std::string> hide_response_headers{"Server", "X-Powered-By"};
};

enum class LogLevel { trace, debug, info, warn, error, off };
enum class AccessLogFormat { combined, json };

struct AccessLog {
    std::string path;  // "" or "off" = disabled, "-" = stdout, else a file
    AccessLogFormat format = AccessLogFormat::combined;
    bool enabled() const { return !path.empty() && path != "off"; }
};

// `admin`: the admin listener (docs/config.md, "admin"; docs/operations.md). Absent = none.
struct Admin {
    SocketAddress listen{"127.0.0.1", 9901};  // loopback: only local operators
    std::string token;  // "" = no authentication; else `Authorization: Bearer <token>`
};

struct Config {
    std::string source;    // file name it was loaded from ("<quick>" for quick mode)
    std::string text;      // the YAML text it was loaded from (GET /config, the config hash)
    unsigned workers = 0;  // 0 = one per core ("auto")
    LogLevel log_level = LogLevel::info;
    AccessLog access_log;
    Timeouts timeouts;
    Duration drain_timeout = limits::kDrainTimeout;
    Limits limits;
    ProxyOptions proxy;
    std::vector<Listener> listeners;
    std::vector<Route> routes;
    std::map<std::string, Cluster> clusters;
    std::optional<Admin> admin;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace usher::config
