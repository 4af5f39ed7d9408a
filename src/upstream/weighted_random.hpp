#pragma once
// `random`: each pick draws an eligible endpoint with probability proportional to its weight.
// Stateless apart from the prefix sums of the weights; the randomness comes from the context.
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class WeightedRandom final : public LoadBalancer {
  public:
    explicit WeightedRandom(std::vector<Endpoint>& endpoints)
        : endpoints_(endpoints), draw_(endpoints) {}

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override {
        return draw_.draw(endpoints_, Eligibility(endpoints_, tried), *ctx.random);
    }

  private:
    std::vector<Endpoint>& endpoints_;
    WeightedDraw draw_;
};

}  // namespace usher::upstream
