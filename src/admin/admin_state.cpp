#include "admin/admin_state.hpp"

namespace usher::admin {

AdminState::AdminState(std::string config_path, unsigned workers)
    : config_path_(std::move(config_path)) {
    for (unsigned i = 0; i < std::max(1u, workers); ++i) {
        metrics_.push_back(std::make_unique<WorkerMetrics>());
    }
}

MetricsTotals AdminState::collect_metrics() const {
    MetricsTotals total;
    for (const auto& m : metrics_) {
        total.add(m->collect());
    }
    return total;
}

void AdminState::set_config(proxy::SnapshotPtr snapshot, std::vector<ListenerStatus> listeners,
                            std::string hash) {
    std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> clusters;
    for (const auto& [name, shared] : snapshot->clusters) {
        clusters[name] = std::make_shared<upstream::SharedCluster>(shared);
    }
    std::lock_guard lock(mu_);
    // Clusters DNS updated since keep their newer endpoints when the snapshot reused them.
    for (auto& [name, c] : clusters) {
        auto it = view_.clusters.find(name);
        if (it != view_.clusters.end() && it->second->circuit == c->circuit) {
            c = it->second;
        }
    }
    view_.snapshot = std::move(snapshot);
    view_.listeners = std::move(listeners);
    view_.clusters = std::move(clusters);
    view_.hash = std::move(hash);
}

void AdminState::set_cluster(const std::string& name,
                             std::shared_ptr<const upstream::SharedCluster> c) {
    std::lock_guard lock(mu_);
    auto it = view_.clusters.find(name);
    // A DNS update of a cluster a reload replaced meanwhile (other breaker) is stale: ignore it.
    if (it != view_.clusters.end() && it->second->circuit == c->circuit) {
        it->second = std::move(c);
    }
}

void AdminState::record_reload(ReloadRecord record) {
    std::lock_guard lock(mu_);
    (record.ok ? view_.reloads : view_.reloads_rejected) += 1;
    view_.last_reload = std::move(record);
}

AdminState::View AdminState::view() const {
    std::lock_guard lock(mu_);
    return view_;
}

}  // namespace usher::admin
