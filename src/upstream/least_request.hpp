#pragma once
// `least_request`: the power of two choices. Draw two endpoints at random (weighted), keep the one
// with the fewer in-flight requests per unit of weight. With three endpoints or fewer, compare all
// of them instead (two draws from three would often be the same pair). Ties go to a weighted
// random choice, so an idle cluster is spread by weight.
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class LeastRequest final : public LoadBalancer {
  public:
    explicit LeastRequest(std::vector<Endpoint>& endpoints)
        : endpoints_(endpoints), draw_(endpoints) {}

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;

  private:
    std::vector<Endpoint>& endpoints_;
    WeightedDraw draw_;
};

}  // namespace usher::upstream
