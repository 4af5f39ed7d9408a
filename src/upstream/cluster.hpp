#pragma once
// A cluster as one worker sees it: its endpoints (with their idle pools) and its balancer state.
// Built per worker from the config snapshot; never shared between threads.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "upstream/endpoint.hpp"
#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class Cluster {
  public:
    // `shared` holds the cluster's resolved endpoints (with their health) from the snapshot.
    Cluster(const config::Cluster& cfg, const std::vector<SharedEndpoint>& shared);
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    const std::string& name() const noexcept { return name_; }
    const config::Pool& pool() const noexcept { return pool_; }
    std::vector<Endpoint>& endpoints() noexcept { return endpoints_; }

    config::BalancerKind balancer_kind() const noexcept { return balancer_kind_; }
    const config::BalancerOptions& balancer_options() const noexcept { return balancer_options_; }
    LoadBalancer& balancer() noexcept { return *balancer_; }

    // The endpoint for this attempt (see LoadBalancer::pick); fills in ctx.random if unset.
    Endpoint* pick(PickContext ctx, const TriedSet& tried) {
        if (ctx.random == nullptr) {
            ctx.random = &random_;
        }
        return balancer_->pick(ctx, tried);
    }

    // A reusable idle connection to `ep`, or nullptr (expired ones are closed on the way).
    std::unique_ptr<Connection> take_idle(Endpoint& ep);
    // Keeps `conn` for reuse unless the pool is full or it reached max_requests.
    void put_idle(std::unique_ptr<Connection> conn);
    // Closes connections idle for longer than the pool's idle_timeout. Called periodically.
    void sweep(std::chrono::steady_clock::time_point now);
    void close_idle();

  private:
    static std::vector<Endpoint> make_endpoints(const std::vector<SharedEndpoint>& shared);

    std::string name_;
    config::Pool pool_;
    std::vector<Endpoint> endpoints_;
    config::BalancerKind balancer_kind_;
    config::BalancerOptions balancer_options_;
    Random random_;
    std::unique_ptr<LoadBalancer> balancer_;
};

}  // namespace usher::upstream
