#include "admin/metrics_text.hpp"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <utility>

#include "core/text.hpp"
#include "upstream/dns_refresher.hpp"

namespace usher::admin {
namespace {

using Labels = std::initializer_list<std::pair<const char*, std::string_view>>;

// One metric family at a time: HELP and TYPE once, then samples.
class Exposition {
  public:
    explicit Exposition(std::string& out) : out_(out) {}

    void family(const char* name, const char* type, const char* help) {
        out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }
    void sample(std::string_view name, Labels labels, std::uint64_t value) {
        head(name, labels);
        append_decimal(out_, value);
        out_.push_back('\n');
    }
    void sample(std::string_view name, Labels labels, double value) {
        head(name, labels);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.9g", std::isfinite(value) ? value : 0.0);
        out_.append(buf).push_back('\n');
    }
    void histogram(const char* name, const HistogramTotals& h) {
        const std::string base(name);
        std::uint64_t cumulative = 0;
        char le[32];
        for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
            cumulative += h.buckets[i];
            std::snprintf(le, sizeof le, "%g", kLatencyBuckets[i]);
            sample(base + "_bucket", {{"le", le}}, cumulative);
        }
        cumulative += h.buckets.back();
        sample(base + "_bucket", {{"le", "+Inf"}}, cumulative);
        sample(base + "_sum", {}, h.sum_s);
        sample(base + "_count", {}, h.count);
    }

  private:
    void head(std::string_view name, Labels labels) {
        out_.append(name);
        if (labels.size() != 0) {
            out_.push_back('{');
            bool first = true;
            for (const auto& [k, v] : labels) {
                if (!first) {
                    out_.push_back(',');
                }
                first = false;
                out_.append(k).append("=\"");
                for (char c : v) {  // the format's three escapes
                    if (c == '\\') {
                        out_.append("\\\\");
                    } else if (c == '"') {
                        out_.append("\\\"");
                    } else if (c == '\n') {
                        out_.append("\\n");
                    } else {
                        out_.push_back(c);
                    }
                }
                out_.push_back('"');
            }
            out_.push_back('}');
        }
        out_.push_back(' ');
    }
    std::string& out_;
};

constexpr const char* kClassNames[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

void write_requests(Exposition& e, const MetricsTotals& m) {
    e.family("usher_requests_total", "counter",
             "Requests answered, by listener, route, cluster and status class (none: no "
             "response was sent).");
    for (const auto& [labels, classes] : m.requests) {
        const auto& [listener, route, cluster] = labels;
        for (std::size_t i = 0; i < classes.size(); ++i) {
            if (classes[i] != 0 || i == 2) {
                e.sample("usher_requests_total",
                         {{"listener", listener},
                          {"route", route},
                          {"cluster", cluster},
                          {"code", kClassNames[i]}},
                         classes[i]);
            }
        }
    }
    e.family("usher_request_duration_seconds", "histogram",
             "Time from the request head to the end of the response.");
    e.histogram("usher_request_duration_seconds", m.request_duration);
    e.family("usher_upstream_first_byte_seconds", "histogram",
             "Time from sending a request upstream to the first response byte.");
    e.histogram("usher_upstream_first_byte_seconds", m.upstream_first_byte);
}

void write_listeners(Exposition& e, const MetricsTotals& m) {
    e.family("usher_downstream_received_bytes_total", "counter",
             "Request body bytes read from clients.");
    for (const auto& [name, l] : m.listeners) {
        e.sample("usher_downstream_received_bytes_total", {{"listener", name}}, l.bytes_in);
    }
    e.family("usher_downstream_sent_bytes_total", "counter",
             "Response body bytes sent to clients.");
    for (const auto& [name, l] : m.listeners) {
        e.sample("usher_downstream_sent_bytes_total", {{"listener", name}}, l.bytes_out);
    }
    e.family("usher_downstream_connections_active", "gauge", "Client connections open now.");
    for (const auto& [name, l] : m.listeners) {
        e.sample("usher_downstream_connections_active", {{"listener", name}},
                 l.opened >= l.closed ? l.opened - l.closed : 0);
    }
    e.family("usher_downstream_connections_total", "counter", "Client connections accepted.");
    for (const auto& [name, l] : m.listeners) {
        e.sample("usher_downstream_connections_total", {{"listener", name}}, l.opened);
    }
    e.family("usher_tls_handshakes_total", "counter",
             "TLS handshakes with clients, by result (ok, failed: error or timeout).");
    for (const auto& [name, l] : m.listeners) {
        if (l.tls_ok + l.tls_failed == 0) {
            continue;
        }
        e.sample("usher_tls_handshakes_total", {{"listener", name}, {"result", "ok"}}, l.tls_ok);
        e.sample("usher_tls_handshakes_total", {{"listener", name}, {"result", "failed"}},
                 l.tls_failed);
    }
}

void write_upstream(Exposition& e, const AdminState::View& v, const MetricsTotals& m,
                    const ActiveRequests* active) {
    e.family("usher_upstream_connections_total", "counter",
             "Upstream connections used for a request: pool hit (reused) or miss (new).");
    for (const auto& [cluster, u] : m.upstream) {
        e.sample("usher_upstream_connections_total", {{"cluster", cluster}, {"pool", "hit"}},
                 u.reused);
        e.sample("usher_upstream_connections_total", {{"cluster", cluster}, {"pool", "miss"}},
                 u.opened);
    }
    if (active != nullptr) {
        e.family("usher_upstream_requests_active", "gauge",
                 "Requests in flight to the endpoint now (each holds an upstream connection).");
        for (const auto& [key, a] : *active) {
            e.sample("usher_upstream_requests_active",
                     {{"cluster", key.first}, {"endpoint", key.second}}, a.requests);
        }
        e.family("usher_upstream_connections_idle", "gauge",
                 "Idle keep-alive connections to the endpoint in the pools now.");
        for (const auto& [key, a] : *active) {
            e.sample("usher_upstream_connections_idle",
                     {{"cluster", key.first}, {"endpoint", key.second}}, a.idle);
        }
    }
    struct Row {
        std::string cluster, endpoint;
        upstream::EndpointTotals totals;
        upstream::EndpointState state;
        std::uint64_t ejections, checks, check_failures;
    };
    std::vector<Row> rows;
    for (const auto& [name, shared] : v.clusters) {
        const auto cfg = v.snapshot->config->clusters.find(name);
        const auto slow_start = cfg == v.snapshot->config->clusters.end() ? config::Duration{0}
                                                                          : cfg->second.slow_start;
        for (const auto& ep : shared->endpoints) {
            const auto& h = *ep.health;
            rows.push_back({name, upstream::address_string(ep.address), h.totals(),
                            h.state(slow_start), h.ejections_total.load(), h.checks.load(),
                            h.check_failures.load()});
        }
    }
    e.family("usher_endpoint_state", "gauge",
             "1 for the endpoint's current state (healthy, slow_start, ejected, unhealthy, "
             "draining), 0 for the others.");
    for (const auto& r : rows) {
        for (auto s : {upstream::EndpointState::healthy, upstream::EndpointState::slow_start,
                       upstream::EndpointState::ejected, upstream::EndpointState::unhealthy,
                       upstream::EndpointState::draining}) {
            e.sample("usher_endpoint_state",
                     {{"cluster", r.cluster},
                      {"endpoint", r.endpoint},
                      {"state", upstream::endpoint_state_name(s)}},
                     std::uint64_t{r.state == s ? 1u : 0u});
        }
    }
    e.family("usher_endpoint_requests_total", "counter", "Attempts sent to the endpoint.");
    for (const auto& r : rows) {
        e.sample("usher_endpoint_requests_total",
                 {{"cluster", r.cluster}, {"endpoint", r.endpoint}}, r.totals.requests);
    }
    e.family("usher_endpoint_failures_total", "counter",
             "Failed attempts, by kind (connect, reset, timeout, 5xx).");
    for (const auto& r : rows) {
        const std::pair<const char*, std::uint64_t> kinds[] = {
            {"connect", r.totals.connect_failures},
            {"reset", r.totals.resets},
            {"timeout", r.totals.timeouts},
            {"5xx", r.totals.responses_5xx}};
        for (const auto& [kind, n] : kinds) {
            e.sample("usher_endpoint_failures_total",
                     {{"cluster", r.cluster}, {"endpoint", r.endpoint}, {"kind", kind}}, n);
        }
    }
    e.family("usher_endpoint_retries_total", "counter",
             "Attempts to the endpoint that were retries.");
    for (const auto& r : rows) {
        e.sample("usher_endpoint_retries_total", {{"cluster", r.cluster}, {"endpoint", r.endpoint}},
                 r.totals.retries);
    }
    e.family("usher_endpoint_ejections_total", "counter",
             "Ejections by outlier detection (passive health).");
    for (const auto& r : rows) {
        e.sample("usher_endpoint_ejections_total",
                 {{"cluster", r.cluster}, {"endpoint", r.endpoint}}, r.ejections);
    }
    e.family("usher_health_checks_total", "counter", "Active health checks run, by result.");
    for (const auto& r : rows) {
        e.sample("usher_health_checks_total",
                 {{"cluster", r.cluster}, {"endpoint", r.endpoint}, {"result", "ok"}},
                 r.checks >= r.check_failures ? r.checks - r.check_failures : 0);
        e.sample("usher_health_checks_total",
                 {{"cluster", r.cluster}, {"endpoint", r.endpoint}, {"result", "failed"}},
                 r.check_failures);
    }
    e.family("usher_circuit_breaker_trips_total", "counter",
             "Requests refused by a circuit-breaker limit of the cluster.");
    for (const auto& [name, shared] : v.clusters) {
        e.sample("usher_circuit_breaker_trips_total", {{"cluster", name}},
                 shared->circuit->trips.load());
    }
}

}  // namespace

std::string render_metrics(const AdminState& state, const AdminState::View& view,
                           const MetricsTotals& metrics, const ActiveRequests* active) {
    std::string out;
    out.reserve(16 * 1024);
    Exposition e(out);
    e.family("usher_build_info", "gauge", "Always 1; the version is a label.");
    e.sample("usher_build_info", {{"version", USHER_VERSION}}, std::uint64_t{1});
    e.family("usher_uptime_seconds", "gauge", "Seconds since the process started.");
    e.sample(
        "usher_uptime_seconds", {},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - state.started()).count());
    e.family("usher_workers", "gauge", "Worker threads.");
    e.sample("usher_workers", {}, std::uint64_t{state.workers()});
    e.family(
        "usher_config_reloads_total", "counter",
        "Configuration reloads, by result (ok: applied; rejected: the running config stayed).");
    e.sample("usher_config_reloads_total", {{"result", "ok"}}, view.reloads);
    e.sample("usher_config_reloads_total", {{"result", "rejected"}}, view.reloads_rejected);
    write_requests(e, metrics);
    write_listeners(e, metrics);
    write_upstream(e, view, metrics, active);
    return out;
}

}  // namespace usher::admin
