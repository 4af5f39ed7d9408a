#pragma once
// `ring_hash`: consistent hashing (Karger et al.). Each endpoint owns virtual nodes on a 64-bit
// ring, 128 per unit of weight (scaled down so the ring stays under kMaxRingSize), placed by
// hashing "label#n". A key goes to the first virtual node at or after its hash (binary search);
// if that endpoint is tried or unhealthy, the walk goes on clockwise. Adding or removing one of
// N endpoints moves only about 1/N of the keys.
#include <cstdint>
#include <vector>

#include "upstream/load_balancer.hpp"

namespace usher::upstream {

class HashRing {
  public:
    static constexpr std::uint64_t kNodesPerWeight = 128;
    static constexpr std::uint64_t kMaxRingSize = 1 << 17;

    explicit HashRing(const std::vector<Endpoint>& endpoints);
    // The first eligible endpoint at or after `hash`, or nullptr when none is eligible.
    Endpoint* find(std::uint64_t hash, std::vector<Endpoint>& endpoints,
                   const Eligibility& eligible) const;
    std::size_t size() const noexcept { return ring_.size(); }

  private:
    struct Node {
        std::uint64_t hash;
        std::uint32_t endpoint;
    };
    std::vector<Node> ring_;  // sorted by hash
};

class RingHash final : public LoadBalancer {
  public:
    explicit RingHash(std::vector<Endpoint>& endpoints) : endpoints_(endpoints), ring_(endpoints) {}

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;
    bool needs_hash() const noexcept override { return true; }

  private:
    std::vector<Endpoint>& endpoints_;
    HashRing ring_;
};

}  // namespace usher::upstream
