#include "admin/status_json.hpp"

#include <unistd.h>

#include <ctime>

#include "admin/json_writer.hpp"
#include "upstream/dns_refresher.hpp"

namespace usher::admin {

std::string iso8601(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

void write_totals(JsonWriter& w, const MetricsTotals& m) {
    StatusClasses classes{};
    for (const auto& [labels, c] : m.requests) {
        for (std::size_t i = 0; i < c.size(); ++i) {
            classes[i] += c[i];
        }
    }
    std::uint64_t requests = 0;
    for (auto c : classes) {
        requests += c;
    }
    ListenerTotals l;
    for (const auto& [name, t] : m.listeners) {
        l.add(t);
    }
    w.key("totals");
    w.begin_object();
    w.key("requests");
    w.number(requests);
    const char* names[] = {"status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx"};
    for (std::size_t i = 1; i <= 5; ++i) {
        w.key(names[i - 1]);
        w.number(classes[i]);
    }
    w.key("bytes_in");
    w.number(l.bytes_in);
    w.key("bytes_out");
    w.number(l.bytes_out);
    w.key("connections_active");
    w.number(l.opened >= l.closed ? l.opened - l.closed : 0);
    w.key("connections_total");
    w.number(l.opened);
    w.end_object();
}

void write_clusters(JsonWriter& w, const StatusInput& in) {
    const auto& v = *in.view;
    w.key("clusters");
    w.begin_array();
    for (const auto& [name, shared] : v.clusters) {
        const auto cfg = v.snapshot->config->clusters.find(name);
        if (cfg == v.snapshot->config->clusters.end()) {
            continue;
        }
        w.begin_object();
        w.key("name");
        w.string(name);
        w.key("balancer");
        w.string(config::balancer_name(cfg->second.balancer));
        w.key("endpoints");
        w.begin_array();
        for (const auto& ep : shared->endpoints) {
            const auto totals = ep.health->totals();
            const std::string address = upstream::address_string(ep.address);
            std::uint64_t active = 0;
            if (in.active != nullptr) {
                if (auto it = in.active->find({name, address}); it != in.active->end()) {
                    active = it->second.requests;
                }
            }
            w.begin_object();
            w.key("address");
            w.string(address);
            w.key("label");
            w.string(ep.label);
            w.key("state");
            w.string(upstream::endpoint_state_name(ep.health->state(cfg->second.slow_start)));
            w.key("requests");
            w.number(totals.requests);
            w.key("failures");
            w.number(totals.connect_failures + totals.resets + totals.timeouts +
                     totals.responses_5xx);
            w.key("active");
            w.number(active);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

}  // namespace

std::string render_status(const StatusInput& in) {
    const auto& v = *in.view;
    const auto& m = *in.metrics;
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("version");
    w.string(USHER_VERSION);
    w.key("pid");
    w.number(static_cast<std::uint64_t>(::getpid()));
    w.key("uptime_s");
    w.number(std::chrono::duration<double>(std::chrono::steady_clock::now() - in.state->started())
                 .count());
    w.key("workers");
    w.number(static_cast<std::uint64_t>(in.state->workers()));
    const bool draining = in.state->draining.load();
    w.key("ready");
    w.boolean(in.state->ready.load() && !draining);
    w.key("draining");
    w.boolean(draining);

    w.key("config");
    w.begin_object();
    w.key("path");
    w.string(in.state->config_path());
    w.key("hash");
    w.string(v.hash);
    w.key("reloads");
    w.number(v.reloads);
    w.key("last_reload");
    if (v.last_reload) {
        w.begin_object();
        w.key("ok");
        w.boolean(v.last_reload->ok);
        w.key("at");
        w.string(iso8601(v.last_reload->at));
        w.key("errors");
        w.begin_array();
        for (const auto& e : v.last_reload->errors) {
            w.string(e);
        }
        w.end_array();
        w.end_object();
    } else {
        w.null();
    }
    w.end_object();

    write_totals(w, m);
    w.key("latency_ms");
    w.begin_object();
    for (const auto& [label, q] : {std::pair{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
        w.key(label);
        w.number(m.request_duration.quantile(q) * 1000.0);
    }
    w.end_object();

    w.key("listeners");
    w.begin_array();
    for (const auto& l : v.listeners) {
        std::uint64_t active = 0;
        if (auto it = m.listeners.find(l.name); it != m.listeners.end()) {
            active =
                it->second.opened >= it->second.closed ? it->second.opened - it->second.closed : 0;
        }
        w.begin_object();
        w.key("name");
        w.string(l.name);
        w.key("address");
        w.string(l.address);
        w.key("tls");
        w.boolean(l.tls);
        w.key("connections_active");
        w.number(active);
        w.end_object();
    }
    w.end_array();

    w.key("routes");
    w.begin_array();
    for (const auto& r : v.snapshot->config->routes) {
        std::uint64_t requests = 0;
        for (const auto& [labels, c] : m.requests) {
            if (std::get<1>(labels) == r.name) {
                for (auto n : c) {
                    requests += n;
                }
            }
        }
        w.begin_object();
        w.key("name");
        w.string(r.name);
        w.key("cluster");
        w.string(r.cluster);
        w.key("requests");
        w.number(requests);
        w.end_object();
    }
    w.end_array();

    write_clusters(w, in);
    w.end_object();
    out.push_back('\n');
    return out;
}

}  // namespace usher::admin
