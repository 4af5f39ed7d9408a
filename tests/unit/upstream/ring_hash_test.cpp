#include "upstream/ring_hash.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/consistent_hash_util.hpp"

namespace usher::upstream {
namespace {

TEST(RingHash, KeysAreSpreadByWeight) {
    // 128 virtual nodes per unit of weight: a share is off by ~1/sqrt(128 w), a few percent.
    const std::vector<std::uint32_t> weights{1, 2, 3, 4};
    auto eps = testing::make_endpoints(weights);
    RingHash lb(eps);
    testing::expect_weighted("ring_hash 1:2:3:4",
                             testing::count_picks(lb, eps.size(), 100'000, true), weights, 0.15);
}

TEST(RingHash, AddingOrRemovingAnEndpointMovesAboutOneNthOfTheKeys) {
    auto make = [](std::vector<Endpoint>& eps) { return std::make_unique<RingHash>(eps); };
    testing::expect_minimal_remap("ring_hash", make, 10, 0.03);
    testing::expect_minimal_remap("ring_hash", make, 4, 0.05);
}

TEST(RingHash, SameKeySameEndpointAndTriedWalksOnConsistently) {
    auto eps = testing::make_endpoints({1, 1, 1, 1, 1});
    RingHash lb(eps);
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

TEST(RingHash, ManyHeavyEndpointsKeepTheRingBounded) {
    auto eps = testing::make_endpoints(std::vector<std::uint32_t>(200, 1000));
    HashRing ring(eps);
    EXPECT_LE(ring.size(), HashRing::kMaxRingSize);
    EXPECT_GE(ring.size(), 200u);
}

}  // namespace
}  // namespace usher::upstream
