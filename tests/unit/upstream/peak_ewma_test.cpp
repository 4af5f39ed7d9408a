#include "upstream/peak_ewma.hpp"

#include <gtest/gtest.h>

#include "unit/upstream/balancer_test_util.hpp"

namespace usher::upstream {
namespace {

using std::chrono::milliseconds;

TEST(PeakEwma, ShiftsLoadAwayFromASlowEndpoint) {
    auto eps = testing::make_endpoints({1, 1, 1, 1});
    PeakEwma lb(eps, std::chrono::seconds(10));
    Random random(5);
    std::vector<std::uint64_t> counts(eps.size(), 0);
    constexpr int kPicks = 20'000;
    for (int i = 0; i < kPicks; ++i) {
        Endpoint* ep = lb.pick({.random = &random}, {});
        lb.on_request_start(*ep);
        ++counts[ep->index];
        lb.on_request_end(*ep, ep->index == 0 ? milliseconds(50) : milliseconds(1), true);
    }
    const double slow = static_cast<double>(counts[0]) / kPicks;
    std::cout << "[distribution] peak_ewma: endpoint at 50 ms vs three at 1 ms gets " << slow * 100
              << "% (fair share 25%, P2C floor 6.25%)\n";
    EXPECT_LT(slow, 0.07);
    EXPECT_GT(counts[1] + counts[2] + counts[3], static_cast<std::uint64_t>(kPicks * 0.93));
}

TEST(PeakEwma, ASlowResponseCountsAtOnceAndFastOnesBlendIn) {
    auto eps = testing::make_endpoints({1});
    PeakEwma lb(eps, std::chrono::seconds(10));
    lb.on_request_start(eps[0]);
    lb.on_request_end(eps[0], milliseconds(100), true);
    EXPECT_NEAR(eps[0].latency_ewma_ns, 100e6, 1);
    lb.on_request_start(eps[0]);
    lb.on_request_end(eps[0], milliseconds(1), true);
    EXPECT_GT(eps[0].latency_ewma_ns, 99e6);  // microseconds later: barely decayed
    EXPECT_EQ(eps[0].in_flight, 0u);
}

TEST(PeakEwma, LatencyDecaysWhileNoResponseArrives) {
    auto eps = testing::make_endpoints({1, 1});
    PeakEwma lb(eps, std::chrono::seconds(10));
    const auto now = std::chrono::steady_clock::now();
    eps[0].latency_ewma_ns = 100e6;
    eps[0].latency_stamp = now - std::chrono::seconds(60);  // six decay times ago
    eps[1].latency_ewma_ns = 1e6;
    eps[1].latency_stamp = now;
    EXPECT_LT(lb.cost(eps[0], now), lb.cost(eps[1], now));  // 100 ms * e^-6 = 0.25 ms < 1 ms
}

TEST(PeakEwma, InFlightRequestsRaiseTheCost) {
    auto eps = testing::make_endpoints({1, 1});
    PeakEwma lb(eps, std::chrono::seconds(10));
    const auto now = std::chrono::steady_clock::now();
    for (auto& ep : eps) {
        ep.latency_ewma_ns = 1e6;
        ep.latency_stamp = now;
    }
    eps[0].in_flight = 3;
    EXPECT_GT(lb.cost(eps[0], now), 3 * lb.cost(eps[1], now));
}

}  // namespace
}  // namespace usher::upstream
