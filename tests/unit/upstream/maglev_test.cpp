#include "upstream/maglev.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/consistent_hash_util.hpp"

namespace usher::upstream {
namespace {

TEST(Maglev, KeysAreSpreadByWeight) {
    const std::vector<std::uint32_t> weights{1, 2, 3, 4};
    auto eps = testing::make_endpoints(weights);
    Maglev lb(eps);
    testing::expect_weighted("maglev 1:2:3:4", testing::count_picks(lb, eps.size(), 100'000, true),
                             weights, 0.02);
}

TEST(Maglev, AddingOrRemovingAnEndpointMovesAboutOneNthOfTheKeys) {
    auto make = [](std::vector<Endpoint>& eps) { return std::make_unique<Maglev>(eps); };
    testing::expect_minimal_remap("maglev", make, 10, 0.03);
    testing::expect_minimal_remap("maglev", make, 4, 0.05);
}

TEST(Maglev, SameKeySameEndpointAndTriedWalksOnConsistently) {
    auto eps = testing::make_endpoints({1, 1, 1, 1, 1});
    Maglev lb(eps);
    Random random;
    const PickContext ctx{.hash = hash_bytes("alice"), .has_hash = true, .random = &random};
    Endpoint* first = lb.pick(ctx, {});
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(lb.pick(ctx, {}), first);
    }
    TriedSet tried;
    tried.add(first->index);
    Endpoint* second = lb.pick(ctx, tried);
    ASSERT_NE(second, nullptr);
    EXPECT_NE(second, first);
    EXPECT_EQ(lb.pick(ctx, tried), second);
}

}  // namespace
}  // namespace usher::upstream
