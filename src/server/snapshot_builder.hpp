#pragma once
// build_snapshot: compiles the parts of a config that every worker shares (router, trusted CIDRs,
// each cluster's resolved endpoints with their EndpointHealth, TLS client contexts). At start-up
// everything is new; on reload, clusters whose config is unchanged are taken over as they run
// now (same endpoints, health, breaker counters), and changed ones keep the health of the
// endpoints (label and address) they still have.
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/config.hpp"
#include "proxy/worker_context.hpp"

namespace usher::server {

// What a reload starts from: the running config and each cluster's current endpoints.
struct ClusterReuse {
    const config::Config* old_config = nullptr;
    std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> current;
};

// What a reload must do besides swapping the snapshot (nothing shared is touched while building,
// so a reload rejected later leaves the running state as it was).
struct SnapshotChanges {
    std::set<std::string> rebuilt;  // clusters built anew (new, or their config changed)
    // Endpoints to mark draining: removed from a changed cluster, or now configured `drain`.
    std::vector<std::shared_ptr<upstream::EndpointHealth>> drain;
};

// Throws std::runtime_error (with a readable message) when an endpoint cannot be resolved, a
// pattern does not compile or a TLS client context cannot be built.
proxy::SnapshotPtr build_snapshot(config::ConfigPtr config, unsigned workers = 1,
                                  const ClusterReuse* reuse = nullptr,
                                  SnapshotChanges* changes = nullptr);

}  // namespace usher::server
