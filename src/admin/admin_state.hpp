#pragma once
// AdminState: what the running server publishes for the admin API, and the one action the admin
// API cannot do by itself (reload). The server (main thread, reload, DNS publisher on the checker
// thread) writes it under its mutex; the admin thread reads a copy (view()) per request. The
// workers' metrics live here too: one WorkerMetrics per worker, written by that worker only.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/worker_metrics.hpp"
#include "proxy/worker_context.hpp"
#include "upstream/shared_cluster.hpp"

namespace usher::admin {

struct ListenerStatus {
    std::string name;
    std::string address;  // as bound ("127.0.0.1:8080", the real port when configured as 0)
    bool tls = false;
};

struct ReloadRecord {
    bool ok = false;
    std::chrono::system_clock::time_point at;
    std::vector<std::string> errors;  // "file:line:col: path: message", or why it was refused
};

// What a reload attempt returns to its caller (admin API, SIGHUP log).
struct ReloadOutcome {
    int status = 200;  // 200 applied, 422 the new config was rejected, 503 shutting down
    std::vector<std::string> errors;
    std::string hash;  // the running config's hash afterwards
};

// What each endpoint's upstream connections are doing now, summed over the workers.
struct EndpointActivity {
    std::uint64_t requests = 0;  // attempts in flight (each holds one connection)
    std::uint64_t idle = 0;      // idle pooled connections
};
// (cluster, address) -> activity.
using ActiveRequests = std::map<std::pair<std::string, std::string>, EndpointActivity>;

class AdminState {
  public:
    AdminState(std::string config_path, unsigned workers);

    const std::string& config_path() const noexcept { return config_path_; }
    unsigned workers() const noexcept { return static_cast<unsigned>(metrics_.size()); }
    std::chrono::steady_clock::time_point started() const noexcept { return started_; }
    // Worker `i`'s metrics (set as WorkerContext::stats).
    WorkerMetrics& worker_metrics(std::size_t i) { return *metrics_[i]; }
    MetricsTotals collect_metrics() const;

    // Server side.
    void set_config(proxy::SnapshotPtr snapshot, std::vector<ListenerStatus> listeners,
                    std::string hash);
    void set_cluster(const std::string& name, std::shared_ptr<const upstream::SharedCluster> c);
    void record_reload(ReloadRecord record);
    std::atomic<bool> ready{false};
    std::atomic<bool> draining{false};
    // Set before the admin listener starts; called on the admin thread (serialised by the server).
    std::function<ReloadOutcome()> reload;
    // Optional: asks every worker for its in-flight requests per endpoint (bounded wait).
    std::function<ActiveRequests()> active_requests;

    // Admin side: a copy of the published state.
    struct View {
        proxy::SnapshotPtr snapshot;
        std::vector<ListenerStatus> listeners;
        // The clusters' current endpoints (DNS updates included), by name.
        std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> clusters;
        std::string hash;
        std::uint64_t reloads = 0;           // applied
        std::uint64_t reloads_rejected = 0;  // refused (invalid file, bind error)
        std::optional<ReloadRecord> last_reload;
    };
    View view() const;

  private:
    std::string config_path_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<WorkerMetrics>> metrics_;
    mutable std::mutex mu_;
    View view_;
};

}  // namespace usher::admin
