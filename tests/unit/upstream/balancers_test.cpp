// Rules every balancer follows, checked for each kind through the one table (make_balancer):
// `tried` is never returned, unhealthy endpoints are skipped, and all are used when none is
// healthy.
#include "upstream/balancers.hpp"

#include <gtest/gtest.h>

#include <set>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream {
namespace {

using config::BalancerKind;

class EveryBalancer : public ::testing::TestWithParam<BalancerKind> {
  protected:
    std::unique_ptr<LoadBalancer> make(std::vector<Endpoint>& eps) {
        config::Cluster cfg;
        cfg.balancer = GetParam();
        return make_balancer(cfg, eps);
    }
    // Picks many times with varied hashes (and with no hash) and returns the indices seen.
    std::set<std::size_t> seen(LoadBalancer& lb, const TriedSet& tried) {
        Random random(7);
        std::set<std::size_t> out;
        for (std::uint64_t i = 0; i < 2000; ++i) {
            PickContext ctx{.hash = mix64(i), .has_hash = i % 3 != 0, .random = &random};
            Endpoint* ep = lb.pick(ctx, tried);
            EXPECT_NE(ep, nullptr);
            if (ep != nullptr) {
                out.insert(ep->index);
            }
        }
        return out;
    }
};

TEST_P(EveryBalancer, NeverReturnsTriedEndpointsAndNullWhenAllTried) {
    auto eps = testing::make_endpoints({1, 2, 1, 3, 1});
    auto lb = make(eps);
    TriedSet tried;
    tried.add(1);
    tried.add(3);
    EXPECT_EQ(seen(*lb, tried), (std::set<std::size_t>{0, 2, 4}));
    for (std::size_t i = 0; i < eps.size(); ++i) {
        tried.add(i);
    }
    Random random;
    EXPECT_EQ(lb->pick({.hash = 1, .has_hash = true, .random = &random}, tried), nullptr);
    EXPECT_EQ(lb->pick({.random = &random}, tried), nullptr);
}

TEST_P(EveryBalancer, SkipsUnhealthyEndpointsAndPanicsToAllWhenNoneIsHealthy) {
    auto eps = testing::make_endpoints({1, 1, 1, 1});
    std::vector<EndpointHealth> health(eps.size());
    for (std::size_t i = 0; i < eps.size(); ++i) {
        eps[i].health = &health[i];
    }
    auto lb = make(eps);
    health[0].healthy = false;
    health[2].healthy = false;
    EXPECT_EQ(seen(*lb, {}), (std::set<std::size_t>{1, 3}));
    // Unhealthy ones are used once the healthy ones were tried.
    TriedSet tried;
    tried.add(1);
    tried.add(3);
    EXPECT_EQ(seen(*lb, tried), (std::set<std::size_t>{0, 2}));
    for (auto& h : health) {
        h.healthy = false;
    }
    EXPECT_EQ(seen(*lb, {}), (std::set<std::size_t>{0, 1, 2, 3}));
}

TEST_P(EveryBalancer, KeepsInFlightCounts) {
    auto eps = testing::make_endpoints({1, 1});
    auto lb = make(eps);
    lb->on_request_start(eps[0]);
    lb->on_request_start(eps[0]);
    lb->on_request_end(eps[0], std::chrono::milliseconds(3), true);
    EXPECT_EQ(eps[0].in_flight, 1u);
    EXPECT_EQ(eps[1].in_flight, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EveryBalancer,
                         ::testing::Values(BalancerKind::round_robin, BalancerKind::least_request,
                                           BalancerKind::random, BalancerKind::ring_hash,
                                           BalancerKind::maglev, BalancerKind::cookie,
                                           BalancerKind::peak_ewma));

}  // namespace
}  // namespace usher::upstream
