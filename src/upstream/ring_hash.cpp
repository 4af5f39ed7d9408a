#include "upstream/ring_hash.hpp"

#include <algorithm>
#include <string>

namespace usher::upstream {

HashRing::HashRing(const std::vector<Endpoint>& endpoints) {
    std::uint64_t total = 0;
    for (const auto& ep : endpoints) {
        total += ep.weight * kNodesPerWeight;
    }
    // Heavy weights on many endpoints would make a huge ring: scale every share down alike.
    const double scale =
        total > kMaxRingSize ? static_cast<double>(kMaxRingSize) / static_cast<double>(total) : 1;
    std::string key;
    for (const auto& ep : endpoints) {
        const auto nodes = std::max<std::uint64_t>(
            1,
            static_cast<std::uint64_t>(static_cast<double>(ep.weight * kNodesPerWeight) * scale));
        const std::uint64_t base = hash_bytes(ep.label);
        for (std::uint64_t n = 0; n < nodes; ++n) {
            ring_.push_back(
                {mix64(base + n * 0x9e3779b97f4a7c15ULL), static_cast<std::uint32_t>(ep.index)});
        }
    }
    std::sort(ring_.begin(), ring_.end(), [](const Node& a, const Node& b) {
        return a.hash < b.hash || (a.hash == b.hash && a.endpoint < b.endpoint);
    });
}

Endpoint* HashRing::find(std::uint64_t hash, std::vector<Endpoint>& endpoints,
                         const Eligibility& eligible) const {
    if (ring_.empty()) {
        return nullptr;
    }
    auto it = std::lower_bound(ring_.begin(), ring_.end(), hash,
                               [](const Node& n, std::uint64_t h) { return n.hash < h; });
    std::size_t i = it == ring_.end() ? 0 : static_cast<std::size_t>(it - ring_.begin());
    if (eligible(endpoints[ring_[i].endpoint])) {
        return &endpoints[ring_[i].endpoint];
    }
    if (!eligible.any()) {
        return nullptr;
    }
    // Every endpoint owns at least one node, so the walk ends within one turn.
    for (std::size_t step = 1; step < ring_.size(); ++step) {
        Endpoint& ep = endpoints[ring_[(i + step) % ring_.size()].endpoint];
        if (eligible(ep)) {
            return &ep;
        }
    }
    return nullptr;
}

Endpoint* RingHash::pick(const PickContext& ctx, const TriedSet& tried) {
    const std::uint64_t hash = ctx.has_hash ? ctx.hash : ctx.random->next();
    return ring_.find(hash, endpoints_, Eligibility(endpoints_, tried));
}

}  // namespace usher::upstream
