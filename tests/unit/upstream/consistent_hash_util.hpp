#pragma once
// Remap measurement for ring_hash and maglev: the share of 10k keys whose endpoint (by label)
// changes when one endpoint is removed or added.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream::testing {

using Factory = std::function<std::unique_ptr<LoadBalancer>(std::vector<Endpoint>&)>;

inline std::vector<std::string> owners(LoadBalancer& lb, std::uint64_t keys) {
    Random random;
    std::vector<std::string> out;
    for (std::uint64_t k = 0; k < keys; ++k) {
        PickContext ctx{
            .hash = hash_bytes("user-" + std::to_string(k)), .has_hash = true, .random = &random};
        out.push_back(lb.pick(ctx, {})->label);
    }
    return out;
}

inline double moved_share(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::size_t moved = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) {
            ++moved;
        }
    }
    return static_cast<double>(moved) / static_cast<double>(a.size());
}

// With N endpoints: removing the last moves ~1/N of the keys, adding one moves ~1/(N+1).
inline void expect_minimal_remap(const std::string& name, const Factory& make, std::size_t n,
                                 double slack) {
    constexpr std::uint64_t kKeys = 10'000;
    auto all = make_endpoints(std::vector<std::uint32_t>(n + 1, 1));
    auto fewer = make_endpoints(std::vector<std::uint32_t>(n, 1));
    auto fewer_lb = make(fewer);
    auto all_lb = make(all);
    auto before = owners(*fewer_lb, kKeys);
    auto after = owners(*all_lb, kKeys);
    // Removing endpoint N (from N+1) and adding it (to N) move the same keys.
    const double moved = moved_share(before, after);
    const double ideal = 1.0 / static_cast<double>(n + 1);
    std::cout << "[remap] " << name << ": " << n << " -> " << n + 1 << " endpoints moves "
              << moved * 100 << "% of " << kKeys << " keys (ideal " << ideal * 100 << "%)\n";
    EXPECT_LT(moved, ideal + slack) << name;
    // Removing a middle endpoint instead: only its keys move.
    auto gap = make_endpoints(std::vector<std::uint32_t>(n + 1, 1));
    gap.erase(gap.begin() + static_cast<std::ptrdiff_t>(n / 2));
    for (std::size_t i = 0; i < gap.size(); ++i) {
        gap[i].index = i;
    }
    auto gap_lb = make(gap);
    const double moved_mid = moved_share(after, owners(*gap_lb, kKeys));
    std::cout << "[remap] " << name << ": removing a middle endpoint of " << n + 1 << " moves "
              << moved_mid * 100 << "% (ideal " << ideal * 100 << "%)\n";
    EXPECT_LT(moved_mid, ideal + slack) << name;
}

}  // namespace usher::upstream::testing
