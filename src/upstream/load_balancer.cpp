#include "upstream/load_balancer.hpp"

#include <algorithm>

namespace usher::upstream {

WeightedDraw::WeightedDraw(const std::vector<Endpoint>& endpoints) {
    std::uint64_t total = 0;
    prefix_.reserve(endpoints.size());
    for (const auto& ep : endpoints) {
        total += ep.weight;
        prefix_.push_back(total);
    }
}

Endpoint* WeightedDraw::draw(std::vector<Endpoint>& endpoints, const Eligibility& eligible,
                             Random& random) {
    if (prefix_.empty()) {
        return nullptr;
    }
    const std::uint64_t r = random.below(prefix_.back());
    const auto it = std::upper_bound(prefix_.begin(), prefix_.end(), r);
    Endpoint& first = endpoints[static_cast<std::size_t>(it - prefix_.begin())];
    if (eligible(first)) {
        return &first;
    }
    std::uint64_t total = 0;
    for (const auto& ep : endpoints) {
        total += eligible(ep) ? ep.weight : 0;
    }
    if (total == 0) {
        return nullptr;
    }
    std::uint64_t left = random.below(total);
    for (auto& ep : endpoints) {
        if (!eligible(ep)) {
            continue;
        }
        if (left < ep.weight) {
            return &ep;
        }
        left -= ep.weight;
    }
    return nullptr;  // unreachable
}

}  // namespace usher::upstream
