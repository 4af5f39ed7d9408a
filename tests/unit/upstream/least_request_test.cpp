#include "upstream/least_request.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream {
namespace {

TEST(LeastRequest, IdleClusterIsSpreadByWeight) {
    for (const std::vector<std::uint32_t>& weights :
         {std::vector<std::uint32_t>{1, 2, 3, 4, 5}, std::vector<std::uint32_t>{1, 3}}) {
        auto eps = testing::make_endpoints(weights);
        LeastRequest lb(eps);
        testing::expect_weighted(
            weights.size() > 3 ? "least_request (P2C) idle 1:2:3:4:5" : "least_request (exact) 1:3",
            testing::count_picks(lb, eps.size(), 400'000, false), weights, 0.02);
    }
}

TEST(LeastRequest, TwoChoicesFavourTheLessLoaded) {
    auto eps = testing::make_endpoints({1, 1, 1, 1, 1});
    LeastRequest lb(eps);
    eps[0].in_flight = 10;
    auto counts = testing::count_picks(lb, eps.size(), 100'000, false);
    const double busy = static_cast<double>(counts[0]) / 100'000;
    std::cout << "[distribution] least_request: endpoint with 10 in flight of 5 idle gets "
              << busy * 100 << "% (fair share 20%, P2C floor 4%)\n";
    EXPECT_LT(busy, 0.05);
}

TEST(LeastRequest, SimulatedLoadFollowsWeights) {
    // Each pick starts a request; the oldest one ends once 20 are in flight.
    const std::vector<std::uint32_t> weights{1, 1, 2, 4};
    auto eps = testing::make_endpoints(weights);
    LeastRequest lb(eps);
    Random random(9);
    std::vector<Endpoint*> open;
    std::vector<std::uint64_t> counts(eps.size(), 0);
    for (int i = 0; i < 100'000; ++i) {
        Endpoint* ep = lb.pick({.random = &random}, {});
        lb.on_request_start(*ep);
        ++counts[ep->index];
        open.push_back(ep);
        if (open.size() > 20) {
            lb.on_request_end(*open.front(), std::chrono::milliseconds(1), true);
            open.erase(open.begin());
        }
    }
    testing::expect_weighted("least_request (P2C) FIFO load 1:1:2:4", counts, weights, 0.05);
}

TEST(LeastRequest, SmallClusterPicksTheExactLeastPerWeight) {
    auto eps = testing::make_endpoints({1, 1, 1});
    LeastRequest lb(eps);
    eps[0].in_flight = 2;
    eps[2].in_flight = 1;
    Random random;
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(lb.pick({.random = &random}, {})->index, 1u);
    }
    auto weighted = testing::make_endpoints({1, 3});
    LeastRequest wlb(weighted);
    weighted[0].in_flight = 1;  // 1 per unit of weight
    weighted[1].in_flight = 2;  // 2/3 per unit of weight: less loaded
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(wlb.pick({.random = &random}, {})->index, 1u);
    }
}

}  // namespace
}  // namespace usher::upstream
