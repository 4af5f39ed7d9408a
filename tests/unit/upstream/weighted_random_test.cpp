#include "upstream/weighted_random.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream {
namespace {

TEST(WeightedRandom, SpreadsPicksByWeight) {
    const std::vector<std::uint32_t> weights{1, 2, 3, 4};
    auto eps = testing::make_endpoints(weights);
    WeightedRandom lb(eps);
    testing::expect_weighted("random 1:2:3:4", testing::count_picks(lb, eps.size(), 100'000, false),
                             weights, 0.02);
}

TEST(WeightedRandom, SpreadsOverTheRestWhenSomeWereTried) {
    const std::vector<std::uint32_t> weights{5, 1, 1, 2};
    auto eps = testing::make_endpoints(weights);
    WeightedRandom lb(eps);
    TriedSet tried;
    tried.add(0);
    Random random(3);
    std::vector<std::uint64_t> counts(eps.size(), 0);
    for (int i = 0; i < 100'000; ++i) {
        ++counts[lb.pick({.random = &random}, tried)->index];
    }
    EXPECT_EQ(counts[0], 0u);
    testing::expect_weighted("random 1:1:2 with the weight-5 endpoint tried",
                             {counts[1], counts[2], counts[3]}, {1, 1, 2}, 0.02);
}

}  // namespace
}  // namespace usher::upstream
