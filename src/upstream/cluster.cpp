#include "upstream/cluster.hpp"

#include "upstream/balancers.hpp"
#include "upstream/sticky_cookie.hpp"

namespace usher::upstream {

Cluster::Cluster(const config::Cluster& cfg, const std::vector<SharedEndpoint>& shared)
    : name_(cfg.name),
      pool_(cfg.pool),
      endpoints_(make_endpoints(shared)),
      balancer_kind_(cfg.balancer),
      balancer_options_(cfg.balancer_options),
      random_(hash_bytes(
          cfg.name,
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              reinterpret_cast<std::uintptr_t>(this))),
      balancer_(make_balancer(cfg, endpoints_)) {}

std::vector<Endpoint> Cluster::make_endpoints(const std::vector<SharedEndpoint>& shared) {
    std::vector<Endpoint> out;
    out.reserve(shared.size());
    for (const auto& s : shared) {
        Endpoint ep;
        ep.label = s.label;
        ep.address = s.address;
        ep.weight = s.weight;
        ep.index = out.size();
        ep.id = sticky_id(s.label);
        ep.health = s.health.get();
        out.push_back(std::move(ep));
    }
    return out;
}

std::unique_ptr<Connection> Cluster::take_idle(Endpoint& ep) {
    auto now = std::chrono::steady_clock::now();
    while (!ep.idle.empty()) {
        auto conn = std::move(ep.idle.back());
        ep.idle.pop_back();
        if (pool_.idle_timeout.count() == 0 || now - conn->idle_since < pool_.idle_timeout) {
            return conn;
        }
    }
    return nullptr;
}

void Cluster::put_idle(std::unique_ptr<Connection> conn) {
    auto& ep = *conn->endpoint;
    if (ep.idle.size() >= pool_.max_idle ||
        (pool_.max_requests != 0 && conn->requests >= pool_.max_requests)) {
        return;  // closed by the destructor
    }
    conn->idle_since = std::chrono::steady_clock::now();
    ep.idle.push_back(std::move(conn));
}

void Cluster::sweep(std::chrono::steady_clock::time_point now) {
    if (pool_.idle_timeout.count() == 0) {
        return;
    }
    for (auto& ep : endpoints_) {
        std::erase_if(ep.idle, [&](const std::unique_ptr<Connection>& c) {
            return now - c->idle_since >= pool_.idle_timeout;
        });
    }
}

void Cluster::close_idle() {
    for (auto& ep : endpoints_) {
        ep.idle.clear();
    }
}

}  // namespace usher::upstream
