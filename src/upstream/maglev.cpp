#include "upstream/maglev.hpp"

#include <algorithm>
#include <limits>

namespace usher::upstream {

Maglev::Maglev(std::vector<Endpoint>& endpoints) : endpoints_(endpoints) {
    if (endpoints.empty()) {
        return;
    }
    constexpr auto kEmpty = std::numeric_limits<std::uint32_t>::max();
    struct Build {
        std::uint64_t offset, skip, next = 0, weight, target = 0;
    };
    std::vector<Build> build;
    std::uint64_t max_weight = 0;
    for (const auto& ep : endpoints) {
        const std::uint64_t h = hash_bytes(ep.label);
        build.push_back(
            {h % kTableSize, mix64(h ^ 0x5bd1e995ULL) % (kTableSize - 1) + 1, 0, ep.weight, 0});
        max_weight = std::max<std::uint64_t>(max_weight, ep.weight);
    }
    table_.assign(kTableSize, kEmpty);
    std::uint64_t filled = 0;
    // An endpoint of the maximum weight claims a slot every round; one of a third of it, every
    // third round.
    for (std::uint64_t round = 1; filled < kTableSize; ++round) {
        for (std::size_t i = 0; i < build.size() && filled < kTableSize; ++i) {
            auto& b = build[i];
            if (round * b.weight < b.target) {
                continue;
            }
            b.target += max_weight;
            std::uint64_t slot = (b.offset + b.skip * b.next) % kTableSize;
            while (table_[slot] != kEmpty) {
                ++b.next;
                slot = (b.offset + b.skip * b.next) % kTableSize;
            }
            table_[slot] = static_cast<std::uint32_t>(i);
            ++b.next;
            ++filled;
        }
    }
}

Endpoint* Maglev::pick(const PickContext& ctx, const TriedSet& tried) {
    if (table_.empty()) {
        return nullptr;
    }
    const Eligibility eligible(endpoints_, tried);
    const std::uint64_t hash = ctx.has_hash ? ctx.hash : ctx.random->next();
    const auto slot = static_cast<std::size_t>(hash % kTableSize);
    if (eligible(endpoints_[table_[slot]])) {
        return &endpoints_[table_[slot]];
    }
    if (!eligible.any()) {
        return nullptr;
    }
    for (std::size_t step = 1; step < table_.size(); ++step) {
        Endpoint& ep = endpoints_[table_[(slot + step) % table_.size()]];
        if (eligible(ep)) {
            return &ep;
        }
    }
    return nullptr;  // unreachable: every endpoint owns at least one slot
}

}  // namespace usher::upstream
