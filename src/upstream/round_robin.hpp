#pragma once
// Smooth weighted round robin (as nginx does it): each pick adds every endpoint's weight to its
// current score, takes the highest, and subtracts the total from the winner. Weights 5,1,1 give
// a a b a c a a, not a a a a a b c. Per worker, so no synchronisation.
#include <cstdint>
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class RoundRobin final : public LoadBalancer {
  public:
    explicit RoundRobin(std::vector<Endpoint>& endpoints)
        : endpoints_(endpoints), current_(endpoints.size(), 0) {}

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;

  private:
    std::vector<Endpoint>& endpoints_;
    std::vector<std::int64_t> current_;
};

}  // namespace usher::upstream
