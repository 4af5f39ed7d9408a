#include "server/snapshot_builder.hpp"

#include "core/log.hpp"
#include "net/listener.hpp"
#include "net/tls_client_context.hpp"
#include "upstream/dns_refresher.hpp"

namespace usher::server {
namespace {

upstream::SharedCluster build_cluster(
    const std::string& name, const config::Cluster& cluster, unsigned workers,
    const upstream::SharedCluster* old, const config::Cluster* old_cfg,
    std::vector<std::shared_ptr<upstream::EndpointHealth>>& drain) {
    upstream::SharedCluster shared;
    if (cluster.tls) {
        if (old != nullptr && old_cfg != nullptr && old_cfg->tls == cluster.tls && old->tls) {
            shared.tls = old->tls;  // same settings: keep the context and its session cache
        } else {                    // one client context per TLS cluster, shared by every worker
            auto built = net::TlsClientContext::build(*cluster.tls);
            if (!built.context) {
                std::string all;
                for (const auto& e : built.errors) {
                    all += (all.empty() ? "cluster " + name + ": " : "; ") + e;
                }
                throw std::runtime_error(all);
            }
            shared.tls = std::move(built.context);
        }
        if (!cluster.tls->verify) {
            log::warn("cluster {}: tls verify is off: backend certificates are not checked", name);
        }
    }
    std::vector<upstream::DesiredEndpoint> desired;
    for (const auto& ep : cluster.endpoints) {
        for (const auto& addr : net::resolve(ep.address)) {
            desired.push_back({ep.address.to_string(), addr, ep.weight, ep.drain});
        }
    }
    if (old != nullptr) {
        // Kept endpoints keep their health; added ones ramp in (slow start).
        auto diff = upstream::diff_endpoints(old->endpoints, desired, workers);
        for (auto& se : diff.removed) {
            drain.push_back(se.health);  // requests in flight on retired clusters finish
        }
        for (auto& se : diff.endpoints) {
            for (const auto& d : desired) {
                if (d.drain && d.label == se.label && d.address == se.address) {
                    drain.push_back(se.health);
                }
            }
        }
        shared.endpoints = std::move(diff.endpoints);
        return shared;
    }
    for (const auto& d : desired) {
        upstream::SharedEndpoint se;
        se.label = d.label;
        se.address = d.address;
        se.weight = d.weight;
        se.health = std::make_shared<upstream::EndpointHealth>(workers);
        se.health->draining.store(d.drain, std::memory_order_relaxed);
        shared.endpoints.push_back(std::move(se));
    }
    return shared;
}

}  // namespace

proxy::SnapshotPtr build_snapshot(config::ConfigPtr config, unsigned workers,
                                  const ClusterReuse* reuse, SnapshotChanges* changes) {
    SnapshotChanges ignored;
    if (changes == nullptr) {
        changes = &ignored;
    }
    auto snap = std::make_shared<proxy::Snapshot>();
    snap->router = std::make_shared<proxy::Router>(*config);
    for (const auto& cidr : config->proxy.trusted_proxies) {
        std::string error;
        if (!net::CidrSet::parse(cidr, snap->trusted_proxies, &error)) {
            throw std::runtime_error("proxy.trusted_proxies: " + error);
        }
    }
    for (const auto& [name, cluster] : config->clusters) {
        const upstream::SharedCluster* old = nullptr;
        const config::Cluster* old_cfg = nullptr;
        if (reuse != nullptr && reuse->old_config != nullptr) {
            auto cur = reuse->current.find(name);
            auto cfg = reuse->old_config->clusters.find(name);
            if (cur != reuse->current.end() && cfg != reuse->old_config->clusters.end()) {
                old = cur->second.get();
                old_cfg = &cfg->second;
            }
        }
        if (old != nullptr && *old_cfg == cluster) {
            snap->clusters[name] = *old;  // unchanged: the same endpoints, health and breaker
            continue;
        }
        snap->clusters[name] = build_cluster(name, cluster, workers, old, old_cfg, changes->drain);
        changes->rebuilt.insert(name);
    }
    snap->config = std::move(config);
    return snap;
}

}  // namespace usher::server
