#include "upstream/round_robin.hpp"

namespace usher::upstream {

Endpoint* RoundRobin::pick(const PickContext& /*ctx*/, const TriedSet& tried) {
    const Eligibility eligible(endpoints_, tried);
    std::int64_t total = 0;
    Endpoint* best = nullptr;
    std::size_t best_index = 0;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        if (!eligible(endpoints_[i])) {
            continue;
        }
        auto w = static_cast<std::int64_t>(endpoints_[i].weight);
        current_[i] += w;
        total += w;
        if (best == nullptr || current_[i] > current_[best_index]) {
            best = &endpoints_[i];
            best_index = i;
        }
    }
    if (best != nullptr) {
        current_[best_index] -= total;
    }
    return best;
}

}  // namespace usher::upstream
