#pragma once
// `maglev`: Google's Maglev consistent hashing (NSDI 2016), weighted as Envoy does it. A lookup
// table of prime size (65537) is filled by letting each endpoint claim slots along its own
// permutation (offset, skip from its label's hash), endpoints taking turns in proportion to their
// weight. A key's slot is hash % size: one memory read. If that endpoint is tried or unhealthy,
// the next slots are tried in order. Removing one of N endpoints remaps about 1/N of the keys.
#include <cstdint>
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class Maglev final : public LoadBalancer {
  public:
    static constexpr std::uint64_t kTableSize = 65537;

    explicit Maglev(std::vector<Endpoint>& endpoints);

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;
    bool needs_hash() const noexcept override { return true; }

  private:
    std::vector<Endpoint>& endpoints_;
    std::vector<std::uint32_t> table_;  // slot -> endpoint index
};

}  // namespace usher::upstream
