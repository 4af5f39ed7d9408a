#include "upstream/sticky_cookie.hpp"

#include <algorithm>
#include <cstdio>

namespace usher::upstream {

std::string sticky_id(std::string_view label) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(hash_bytes(label)));
    return id;
}

StickyCookie::StickyCookie(std::vector<Endpoint>& endpoints)
    : endpoints_(endpoints), round_robin_(endpoints), ring_(endpoints) {
    for (const auto& ep : endpoints) {
        ids_.emplace_back(hash_bytes(ep.id), static_cast<std::uint32_t>(ep.index));
    }
    std::sort(ids_.begin(), ids_.end());
}

Endpoint* StickyCookie::pick(const PickContext& ctx, const TriedSet& tried) {
    if (!ctx.has_hash) {
        return round_robin_.pick(ctx, tried);
    }
    const Eligibility eligible(endpoints_, tried);
    const auto it = std::lower_bound(ids_.begin(), ids_.end(),
                                     std::pair<std::uint64_t, std::uint32_t>{ctx.hash, 0});
    if (it != ids_.end() && it->first == ctx.hash && eligible(endpoints_[it->second])) {
        return &endpoints_[it->second];
    }
    return ring_.find(ctx.hash, endpoints_, eligible);
}

}  // namespace usher::upstream
