#pragma once
// WorkerMetrics: the admin layer's proxy::WorkerStats. One instance per worker, written only on
// that worker's thread; the admin thread reads it at scrape time (collect()) and sums the workers
// (MetricsTotals::add). Counters are std::atomic written with a relaxed load + store (a single
// writer: no locked instruction, no contention); a new label set (listener/route/cluster seen for
// the first time) is appended under a mutex that only the scraper also takes.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "proxy/worker_stats.hpp"

namespace usher::admin {

// Written by one thread, read by any.
class Counter {
  public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

// Upper bounds (seconds) of the latency histograms' buckets; +Inf is implied.
inline constexpr std::array<double, 14> kLatencyBuckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// Plain sums (what collect() returns and the renderers read).
struct HistogramTotals {
    std::array<std::uint64_t, kLatencyBuckets.size() + 1> buckets{};  // not cumulative; last=+Inf
    std::uint64_t count = 0;
    double sum_s = 0;
    void add(const HistogramTotals& o) noexcept;
    // The q-quantile (0..1) in seconds, interpolated within its bucket; 0 when empty.
    double quantile(double q) const noexcept;
};

// Status classes: index 0 = no response sent (aborted), 1..5 = 1xx..5xx.
using StatusClasses = std::array<std::uint64_t, 6>;

struct ListenerTotals {
    std::uint64_t opened = 0, closed = 0, bytes_in = 0, bytes_out = 0, tls_ok = 0, tls_failed = 0;
    void add(const ListenerTotals& o) noexcept;
};

struct UpstreamTotals {
    std::uint64_t reused = 0, opened = 0;  // pool hits / misses (new connections)
};

// listener, route, cluster ("" when none).
using RequestLabels = std::tuple<std::string, std::string, std::string>;

struct MetricsTotals {
    std::map<RequestLabels, StatusClasses> requests;
    std::map<std::string, ListenerTotals> listeners;
    std::map<std::string, UpstreamTotals> upstream;
    HistogramTotals request_duration;
    HistogramTotals upstream_first_byte;
    void add(const MetricsTotals& o);
};

class WorkerMetrics final : public proxy::WorkerStats {
  public:
    WorkerMetrics() = default;
    WorkerMetrics(const WorkerMetrics&) = delete;
    WorkerMetrics& operator=(const WorkerMetrics&) = delete;

    // proxy::WorkerStats (the worker's thread only).
    void on_request(const proxy::ListenerInfo& listener,
                    const proxy::AccessEntry& entry) noexcept override;
    void on_connection_open(const proxy::ListenerInfo& listener) noexcept override;
    void on_connection_close(const proxy::ListenerInfo& listener) noexcept override;
    void on_tls_handshake(const proxy::ListenerInfo& listener, bool ok) noexcept override;
    void on_upstream_connection(std::string_view cluster, bool reused) noexcept override;

    // Any thread: a consistent-enough copy of every counter (each read is atomic).
    MetricsTotals collect() const;

  private:
    struct Histogram {
        std::array<Counter, kLatencyBuckets.size() + 1> buckets;
        Counter count;
        Counter sum_us;
        void observe(double seconds) noexcept;
        HistogramTotals totals() const noexcept;
    };
    struct RequestSeries {
        std::string listener, route, cluster;
        std::array<Counter, 6> classes;
    };
    struct ListenerSeries {
        std::string name;
        Counter opened, closed, bytes_in, bytes_out, tls_ok, tls_failed;
    };
    struct UpstreamSeries {
        std::string cluster;
        Counter reused, opened;
    };
    // Finds or appends (under mu_) the series for these labels. Allocates only the first time.
    RequestSeries* request_series(std::string_view listener, std::string_view route,
                                  std::string_view cluster);
    ListenerSeries* listener_series(std::string_view name);
    UpstreamSeries* upstream_series(std::string_view cluster);

    mutable std::mutex mu_;  // guards appends to the vectors (the worker) against collect()
    std::vector<std::unique_ptr<RequestSeries>> requests_;
    std::vector<std::unique_ptr<ListenerSeries>> listeners_;
    std::vector<std::unique_ptr<UpstreamSeries>> upstream_;
    RequestSeries* last_request_ = nullptr;  // the last series hit (keep-alive runs repeat it)
    Histogram request_duration_;
    Histogram upstream_first_byte_;
};

}  // namespace usher::admin
