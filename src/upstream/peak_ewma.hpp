#pragma once
// `peak_ewma` (Finagle's and Linkerd's latency-aware balancer): each endpoint keeps a peak-
// sensitive moving average of its response latency: a slower response replaces it at once, a
// faster one is blended in with weight 1 - e^(-dt/decay), and the value decays towards zero while
// no response arrives (so an endpoint that was slow gets probed again). A pick draws two eligible
// endpoints at random (weighted) and keeps the lower cost = ewma × (in_flight + 1) / weight.
#include <chrono>
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class PeakEwma final : public LoadBalancer {
  public:
    PeakEwma(std::vector<Endpoint>& endpoints, std::chrono::nanoseconds decay)
        : endpoints_(endpoints), draw_(endpoints), decay_ns_(static_cast<double>(decay.count())) {}

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;
    void on_request_end(Endpoint& ep, std::chrono::nanoseconds latency,
                        bool success) noexcept override;

    // The cost pick() compares (public for tests).
    double cost(const Endpoint& ep, std::chrono::steady_clock::time_point now) const noexcept;

  private:
    double decayed(const Endpoint& ep, std::chrono::steady_clock::time_point now) const noexcept;

    std::vector<Endpoint>& endpoints_;
    WeightedDraw draw_;
    double decay_ns_;
};

}  // namespace usher::upstream
