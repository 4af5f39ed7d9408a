#include "admin/worker_metrics.hpp"

#include <algorithm>

#include "proxy/worker_context.hpp"

namespace usher::admin {

void HistogramTotals::add(const HistogramTotals& o) noexcept {
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        buckets[i] += o.buckets[i];
    }
    count += o.count;
    sum_s += o.sum_s;
}

double HistogramTotals::quantile(double q) const noexcept {
    if (count == 0) {
        return 0;
    }
    const double rank = q * static_cast<double>(count);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (buckets[i] == 0) {
            continue;
        }
        const double before = static_cast<double>(seen);
        seen += buckets[i];
        if (static_cast<double>(seen) >= rank) {
            const double low = i == 0 ? 0 : kLatencyBuckets[i - 1];
            // The +Inf bucket has no upper bound: report its lower bound.
            const double high = i < kLatencyBuckets.size() ? kLatencyBuckets[i] : low;
            const double within = (rank - before) / static_cast<double>(buckets[i]);
            return low + (high - low) * std::clamp(within, 0.0, 1.0);
        }
    }
    return kLatencyBuckets.back();
}

void ListenerTotals::add(const ListenerTotals& o) noexcept {
    opened += o.opened;
    closed += o.closed;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    tls_ok += o.tls_ok;
    tls_failed += o.tls_failed;
}

void MetricsTotals::add(const MetricsTotals& o) {
    for (const auto& [labels, classes] : o.requests) {
        auto& mine = requests[labels];
        for (std::size_t i = 0; i < classes.size(); ++i) {
            mine[i] += classes[i];
        }
    }
    for (const auto& [name, l] : o.listeners) {
        listeners[name].add(l);
    }
    for (const auto& [name, u] : o.upstream) {
        upstream[name].reused += u.reused;
        upstream[name].opened += u.opened;
    }
    request_duration.add(o.request_duration);
    upstream_first_byte.add(o.upstream_first_byte);
}

void WorkerMetrics::Histogram::observe(double seconds) noexcept {
    if (!(seconds >= 0)) {  // also NaN
        return;
    }
    const auto it = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
    buckets[static_cast<std::size_t>(it - kLatencyBuckets.begin())].add();
    count.add();
    sum_us.add(static_cast<std::uint64_t>(seconds * 1e6));
}

HistogramTotals WorkerMetrics::Histogram::totals() const noexcept {
    HistogramTotals t;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        t.buckets[i] = buckets[i].get();
    }
    t.count = count.get();
    t.sum_s = static_cast<double>(sum_us.get()) / 1e6;
    return t;
}

WorkerMetrics::RequestSeries* WorkerMetrics::request_series(std::string_view listener,
                                                            std::string_view route,
                                                            std::string_view cluster) {
    auto same = [&](const RequestSeries& s) {
        return s.route == route && s.cluster == cluster && s.listener == listener;
    };
    if (last_request_ != nullptr && same(*last_request_)) {
        return last_request_;
    }
    for (auto& s : requests_) {  // only this thread appends: reading without the lock is safe
        if (same(*s)) {
            return last_request_ = s.get();
        }
    }
    auto s = std::make_unique<RequestSeries>();
    s->listener = listener;
    s->route = route;
    s->cluster = cluster;
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(s));
    return last_request_ = requests_.back().get();
}

WorkerMetrics::ListenerSeries* WorkerMetrics::listener_series(std::string_view name) {
    for (auto& s : listeners_) {
        if (s->name == name) {
            return s.get();
        }
    }
    auto s = std::make_unique<ListenerSeries>();
    s->name = name;
    std::lock_guard lock(mu_);
    listeners_.push_back(std::move(s));
    return listeners_.back().get();
}

WorkerMetrics::UpstreamSeries* WorkerMetrics::upstream_series(std::string_view cluster) {
    for (auto& s : upstream_) {
        if (s->cluster == cluster) {
            return s.get();
        }
    }
    auto s = std::make_unique<UpstreamSeries>();
    s->cluster = cluster;
    std::lock_guard lock(mu_);
    upstream_.push_back(std::move(s));
    return upstream_.back().get();
}

void WorkerMetrics::on_request(const proxy::ListenerInfo& listener,
                               const proxy::AccessEntry& entry) noexcept {
    auto* s = request_series(listener.name, entry.route, entry.cluster);
    const std::size_t cls = entry.status >= 100 && entry.status < 600 ? entry.status / 100u : 0u;
    s->classes[cls].add();
    auto* l = listener_series(listener.name);
    l->bytes_in.add(entry.bytes_in);
    l->bytes_out.add(entry.bytes_out);
    request_duration_.observe(entry.total_s);
    if (entry.first_byte_s >= 0) {
        upstream_first_byte_.observe(entry.first_byte_s);
    }
}

void WorkerMetrics::on_connection_open(const proxy::ListenerInfo& listener) noexcept {
    listener_series(listener.name)->opened.add();
}

void WorkerMetrics::on_connection_close(const proxy::ListenerInfo& listener) noexcept {
    listener_series(listener.name)->closed.add();
}

void WorkerMetrics::on_tls_handshake(const proxy::ListenerInfo& listener, bool ok) noexcept {
    auto* l = listener_series(listener.name);
    (ok ? l->tls_ok : l->tls_failed).add();
}

void WorkerMetrics::on_upstream_connection(std::string_view cluster, bool reused) noexcept {
    auto* u = upstream_series(cluster);
    (reused ? u->reused : u->opened).add();
}

MetricsTotals WorkerMetrics::collect() const {
    MetricsTotals t;
    std::lock_guard lock(mu_);
    for (const auto& s : requests_) {
        auto& classes = t.requests[{s->listener, s->route, s->cluster}];
        for (std::size_t i = 0; i < classes.size(); ++i) {
            classes[i] += s->classes[i].get();
        }
    }
    for (const auto& s : listeners_) {
        auto& l = t.listeners[s->name];
        l.opened += s->opened.get();
        l.closed += s->closed.get();
        l.bytes_in += s->bytes_in.get();
        l.bytes_out += s->bytes_out.get();
        l.tls_ok += s->tls_ok.get();
        l.tls_failed += s->tls_failed.get();
    }
    for (const auto& s : upstream_) {
        auto& u = t.upstream[s->cluster];
        u.reused += s->reused.get();
        u.opened += s->opened.get();
    }
    t.request_duration = request_duration_.totals();
    t.upstream_first_byte = upstream_first_byte_.totals();
    return t;
}

}  // namespace usher::admin
