#include "upstream/sticky_cookie.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream {
namespace {

PickContext with_cookie(std::string_view value, Random& random) {
    return {.hash = hash_bytes(value), .has_hash = true, .random = &random};
}

TEST(StickyCookie, WithoutACookiePicksByRoundRobin) {
    auto eps = testing::make_endpoints({1, 1, 1});
    StickyCookie lb(eps);
    Random random;
    std::string seq;
    for (int i = 0; i < 6; ++i) {
        seq += std::to_string(lb.pick({.random = &random}, {})->index);
    }
    EXPECT_EQ(seq, "012012");
}

TEST(StickyCookie, ACookieNamingAnEndpointStaysThere) {
    auto eps = testing::make_endpoints({1, 1, 1, 1});
    StickyCookie lb(eps);
    Random random;
    for (const auto& ep : eps) {
        for (int i = 0; i < 5; ++i) {
            EXPECT_EQ(lb.pick(with_cookie(ep.id, random), {}), &ep);
        }
    }
}

TEST(StickyCookie, ADeadEndpointsSessionsMoveConsistently) {
    auto eps = testing::make_endpoints({1, 1, 1, 1});
    std::vector<EndpointHealth> health(eps.size());
    for (std::size_t i = 0; i < eps.size(); ++i) {
        eps[i].health = &health[i];
    }
    StickyCookie lb(eps);
    Random random;
    health[2].healthy = false;
    Endpoint* moved = lb.pick(with_cookie(eps[2].id, random), {});
    ASSERT_NE(moved, nullptr);
    EXPECT_NE(moved->index, 2u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(lb.pick(with_cookie(eps[2].id, random), {}), moved);
    }
    // A retry after the sticky endpoint failed goes elsewhere too.
    TriedSet tried;
    tried.add(0);
    EXPECT_NE(lb.pick(with_cookie(eps[0].id, random), tried), &eps[0]);
    // Back to healthy: the session returns.
    health[2].healthy = true;
    EXPECT_EQ(lb.pick(with_cookie(eps[2].id, random), {}), &eps[2]);
}

TEST(StickyCookie, UnknownValuesAreSpreadConsistently) {
    const std::vector<std::uint32_t> weights{1, 1, 2};
    auto eps = testing::make_endpoints(weights);
    StickyCookie lb(eps);
    Random random;
    Endpoint* first = lb.pick(with_cookie("forged", random), {});
    EXPECT_EQ(lb.pick(with_cookie("forged", random), {}), first);
    testing::expect_weighted("cookie (unknown values, ring) 1:1:2",
                             testing::count_picks(lb, eps.size(), 100'000, true), weights, 0.15);
}

}  // namespace
}  // namespace usher::upstream
