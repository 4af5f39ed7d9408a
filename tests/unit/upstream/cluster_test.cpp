// Cluster (one worker's view of a cluster) and EndpointHealth (the process-wide endpoint state):
// per-worker counters, outlier detection with backoff and a max-ejected share, panic mode, slow
// start, the retry budget, the circuit breaker, the idle pool rules and the visible state.
#include "upstream/cluster.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "upstream/health.hpp"

namespace usher::upstream {
namespace {

using namespace std::chrono_literals;
using config::BalancerKind;

constexpr std::int64_t kMs = 1'000'000;  // nanoseconds

// A config::Cluster and the SharedCluster a snapshot would build from it: `n` endpoints on
// 127.0.0.1:9001.., each with counters for `workers` workers.
struct Fixture {
    config::Cluster cfg;
    SharedCluster shared;

    explicit Fixture(std::size_t n, std::size_t workers = 1, std::uint16_t first_port = 9001) {
        cfg.name = "backend";
        for (std::size_t i = 0; i < n; ++i) {
            shared.endpoints.push_back(
                endpoint(static_cast<std::uint16_t>(first_port + i), workers));
        }
    }
    static SharedEndpoint endpoint(std::uint16_t port, std::size_t workers = 1) {
        SharedEndpoint se;
        se.label = "127.0.0.1:" + std::to_string(port);
        se.address = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
        se.health = std::make_shared<EndpointHealth>(workers);
        return se;
    }
    EndpointHealth& health(std::size_t i) { return *shared.endpoints[i].health; }
    void outlier(std::uint64_t consecutive, config::Duration base = 1000ms,
                 config::Duration max = 300'000ms, std::uint64_t percent = 100,
                 bool count_5xx = true) {
        config::OutlierDetection od;
        od.consecutive_failures = consecutive;
        od.base_ejection_time = base;
        od.max_ejection_time = max;
        od.max_ejected_percent = percent;
        od.count_5xx = count_5xx;
        cfg.outlier_detection = od;
    }
};

// Picks `n` times with no hash and counts per endpoint index (nullptr counted in the last slot).
std::vector<std::uint64_t> count_picks(Cluster& c, std::uint64_t n) {
    std::vector<std::uint64_t> counts(c.endpoints().size() + 1, 0);
    for (std::uint64_t i = 0; i < n; ++i) {
        Endpoint* ep = c.pick({}, {});
        ++counts[ep == nullptr ? c.endpoints().size() : ep->index];
    }
    return counts;
}

std::set<std::size_t> picked(Cluster& c, std::uint64_t n = 400) {
    std::set<std::size_t> out;
    for (std::uint64_t i = 0; i < n; ++i) {
        Endpoint* ep = c.pick({}, {});
        EXPECT_NE(ep, nullptr);
        if (ep != nullptr) {
            out.insert(ep->index);
        }
    }
    return out;
}

// Polls `done` until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Nanoseconds left in `h`'s ejection (negative or zero when not ejected).
std::int64_t ejection_left(const EndpointHealth& h) {
    return h.ejected_until_ns.load() - steady_now_ns();
}

// Ends `h`'s ejection as if its time had passed just now.
void expire_ejection(EndpointHealth& h) {
    const auto now = steady_now_ns();
    h.ejected_until_ns = now - 1;
    h.last_ejection_ns = now - 1;
}

// ---------------------------------------------------------------------------------------------
// Counters

TEST(ClusterCounters, ReportCountsEachResultInThisWorkersSlot) {
    Fixture s(1, 2);
    Cluster c(s.cfg, s.shared, 1);
    auto& ep = c.endpoints()[0];
    EXPECT_FALSE(c.report(ep, AttemptResult::success));
    EXPECT_FALSE(c.report(ep, AttemptResult::connect_failure));
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(c.report(ep, AttemptResult::timeout));
    EXPECT_FALSE(c.report(ep, AttemptResult::status_5xx));

    const auto& mine = s.health(0).worker_counters(1);
    EXPECT_EQ(mine.requests, 6U);
    EXPECT_EQ(mine.connect_failures, 1U);
    EXPECT_EQ(mine.resets, 2U);
    EXPECT_EQ(mine.timeouts, 1U);
    EXPECT_EQ(mine.responses_5xx, 1U);
    EXPECT_EQ(mine.ejections, 0U);  // no outlier detection configured
    EXPECT_EQ(&c.counters(ep), &mine);

    const auto& other = s.health(0).worker_counters(0);
    EXPECT_EQ(other.requests, 0U);
    EXPECT_EQ(other.resets, 0U);
}

TEST(ClusterCounters, TotalsSumEveryWorkersSlot) {
    Fixture s(2, 2);
    Cluster w0(s.cfg, s.shared, 0);
    Cluster w1(s.cfg, s.shared, 1);
    w0.report(w0.endpoints()[0], AttemptResult::success);
    w0.report(w0.endpoints()[0], AttemptResult::timeout);
    w0.report(w0.endpoints()[0], AttemptResult::status_5xx);
    w1.report(w1.endpoints()[0], AttemptResult::success);
    w1.report(w1.endpoints()[0], AttemptResult::connect_failure);
    w1.report(w1.endpoints()[0], AttemptResult::reset);
    w1.report(w1.endpoints()[0], AttemptResult::timeout);
    w1.report(w1.endpoints()[1], AttemptResult::status_5xx);

    EXPECT_EQ(s.health(0).worker_counters(0).requests, 3U);
    EXPECT_EQ(s.health(0).worker_counters(1).requests, 4U);
    const auto t = s.health(0).totals();
    EXPECT_EQ(t.requests, 7U);
    EXPECT_EQ(t.connect_failures, 1U);
    EXPECT_EQ(t.resets, 1U);
    EXPECT_EQ(t.timeouts, 2U);
    EXPECT_EQ(t.responses_5xx, 1U);
    EXPECT_EQ(t.retries, 0U);
    EXPECT_EQ(t.ejections, 0U);

    const auto t1 = s.health(1).totals();
    EXPECT_EQ(t1.requests, 1U);
    EXPECT_EQ(t1.responses_5xx, 1U);
    EXPECT_EQ(t1.timeouts, 0U);
}

TEST(ClusterCounters, WorkerBeyondTheSlotsCountsInSlotZero) {
    Fixture s(1, 1);
    Cluster c(s.cfg, s.shared, 3);
    c.report(c.endpoints()[0], AttemptResult::reset);
    EXPECT_EQ(s.health(0).worker_counters(0).resets, 1U);
    EXPECT_EQ(s.health(0).totals().requests, 1U);
}

// ---------------------------------------------------------------------------------------------
// Outlier detection

TEST(ClusterOutlier, EjectsAfterExactlyConsecutiveFailures) {
    Fixture s(3);
    s.outlier(3);
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[1];
    EXPECT_FALSE(c.report(ep, AttemptResult::connect_failure));
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_TRUE(ep.healthy());
    EXPECT_EQ(s.health(1).consecutive_failures, 2U);
    EXPECT_TRUE(c.report(ep, AttemptResult::timeout));
    EXPECT_FALSE(ep.healthy());
    EXPECT_TRUE(s.health(1).is_ejected(steady_now_ns()));
    EXPECT_EQ(s.health(1).consecutive_failures, 0U);
    EXPECT_EQ(s.health(1).ejections_total, 1U);
    EXPECT_EQ(s.health(1).ejection_level, 1U);
    EXPECT_EQ(s.health(1).totals().ejections, 1U);
    // Only that endpoint.
    EXPECT_TRUE(c.endpoints()[0].healthy());
    EXPECT_TRUE(c.endpoints()[2].healthy());
    // Further failures while ejected do not eject again.
    for (int i = 0; i < 5; ++i) {
        EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    }
    EXPECT_EQ(s.health(1).ejections_total, 1U);
}

TEST(ClusterOutlier, ASuccessResetsTheCount) {
    Fixture s(2);
    s.outlier(3);
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[0];
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(c.report(ep, AttemptResult::success));
    EXPECT_EQ(s.health(0).consecutive_failures, 0U);
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(c.report(ep, AttemptResult::reset));
    EXPECT_TRUE(ep.healthy());
    EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    EXPECT_FALSE(ep.healthy());
}

TEST(ClusterOutlier, FiveHundredsCountOnlyWithCount5xx) {
    {
        Fixture s(2);
        s.outlier(2, 1000ms, 300'000ms, 100, /*count_5xx=*/true);
        Cluster c(s.cfg, s.shared);
        auto& ep = c.endpoints()[0];
        EXPECT_FALSE(c.report(ep, AttemptResult::status_5xx));
        EXPECT_TRUE(c.report(ep, AttemptResult::status_5xx));
        EXPECT_FALSE(ep.healthy());
    }
    {
        Fixture s(2);
        s.outlier(2, 1000ms, 300'000ms, 100, /*count_5xx=*/false);
        Cluster c(s.cfg, s.shared);
        auto& ep = c.endpoints()[0];
        for (int i = 0; i < 10; ++i) {
            EXPECT_FALSE(c.report(ep, AttemptResult::status_5xx));
        }
        EXPECT_TRUE(ep.healthy());
        EXPECT_EQ(s.health(0).consecutive_failures, 0U);
        EXPECT_EQ(s.health(0).totals().responses_5xx, 10U);
        // Other failures still count.
        EXPECT_FALSE(c.report(ep, AttemptResult::connect_failure));
        EXPECT_TRUE(c.report(ep, AttemptResult::timeout));
    }
}

TEST(ClusterOutlier, EjectedEndpointIsNotPickedUntilItsTimePassed) {
    Fixture s(3);
    s.outlier(1, 50ms, 1000ms);
    Cluster c(s.cfg, s.shared);
    EXPECT_EQ(picked(c), (std::set<std::size_t>{0, 1, 2}));
    EXPECT_TRUE(c.report(c.endpoints()[2], AttemptResult::reset));
    // While the ejection lasts (50 ms), endpoint 2 is never picked: only picks made well
    // before its end are counted, so a slow machine cannot turn this into a false failure.
    const auto until = s.health(2).ejected_until_ns.load();
    std::set<std::size_t> during;
    for (int i = 0; i < 300 && steady_now_ns() < until - 10 * kMs; ++i) {
        Endpoint* ep = c.pick({}, {});
        ASSERT_NE(ep, nullptr);
        if (steady_now_ns() < until) {
            during.insert(ep->index);
        }
    }
    EXPECT_EQ(during.count(2), 0U);
    EXPECT_FALSE(during.empty());

    EXPECT_TRUE(eventually([&] { return c.endpoints()[2].healthy(); }));
    EXPECT_EQ(s.health(2).state(0ms), EndpointState::healthy);
    EXPECT_EQ(picked(c), (std::set<std::size_t>{0, 1, 2}));
}

TEST(ClusterOutlier, ExpiredEjectionMakesTheEndpointHealthyAgain) {
    Fixture s(2);
    s.outlier(1, 60'000ms, 300'000ms);
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[0], AttemptResult::reset));
    EXPECT_EQ(picked(c), (std::set<std::size_t>{1}));
    expire_ejection(s.health(0));
    EXPECT_TRUE(c.endpoints()[0].healthy());
    EXPECT_EQ(picked(c), (std::set<std::size_t>{0, 1}));
}

TEST(ClusterOutlier, BackoffDoublesAndIsCappedAtMaxEjectionTime) {
    Fixture s(2);
    s.outlier(2, 1000ms, 3000ms);
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[0];
    auto& h = s.health(0);
    auto eject = [&] {
        EXPECT_FALSE(c.report(ep, AttemptResult::reset));
        EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    };

    eject();
    const auto first = ejection_left(h);
    EXPECT_GT(first, 500 * kMs);
    EXPECT_LE(first, 1000 * kMs);
    EXPECT_EQ(h.ejection_level, 1U);

    expire_ejection(h);
    eject();
    const auto second = ejection_left(h);
    EXPECT_GT(second, 1500 * kMs);
    EXPECT_LE(second, 2000 * kMs);
    EXPECT_EQ(h.ejection_level, 2U);

    expire_ejection(h);
    eject();  // 4 s, capped at 3 s
    const auto third = ejection_left(h);
    EXPECT_GT(third, 2500 * kMs);
    EXPECT_LE(third, 3000 * kMs);
    EXPECT_EQ(h.ejection_level, 3U);

    expire_ejection(h);
    eject();  // still capped
    EXPECT_GT(ejection_left(h), 2500 * kMs);
    EXPECT_LE(ejection_left(h), 3000 * kMs);
    EXPECT_EQ(h.ejections_total, 4U);
}

TEST(ClusterOutlier, BackoffLevelResetsAfterStayingInForMaxEjectionTime) {
    Fixture s(2);
    s.outlier(1, 1000ms, 3000ms);
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[0];
    auto& h = s.health(0);
    EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    expire_ejection(h);
    EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    EXPECT_GT(ejection_left(h), 1500 * kMs);  // level 2: twice the base
    EXPECT_EQ(h.ejection_level, 2U);

    // The ejection ended 3.5 s ago (longer than max_ejection_time): back to the base time.
    const auto now = steady_now_ns();
    h.ejected_until_ns = now - 3500 * kMs;
    h.last_ejection_ns = now - 3500 * kMs;
    EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    EXPECT_GT(ejection_left(h), 500 * kMs);
    EXPECT_LE(ejection_left(h), 1000 * kMs);
    EXPECT_EQ(h.ejection_level, 1U);

    // And it grows again from there.
    expire_ejection(h);
    EXPECT_TRUE(c.report(ep, AttemptResult::reset));
    EXPECT_GT(ejection_left(h), 1500 * kMs);
    EXPECT_LE(ejection_left(h), 2000 * kMs);
}

TEST(ClusterOutlier, MaxEjectedPercentKeepsTheRestIn) {
    Fixture s(4);
    s.outlier(1, 60'000ms, 300'000ms, 50);
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[0], AttemptResult::reset));
    EXPECT_TRUE(c.report(c.endpoints()[1], AttemptResult::reset));
    // 2 of 4 ejected = 50 %: a third is not.
    EXPECT_FALSE(c.report(c.endpoints()[2], AttemptResult::reset));
    EXPECT_FALSE(c.report(c.endpoints()[2], AttemptResult::reset));
    EXPECT_TRUE(c.endpoints()[2].healthy());
    EXPECT_EQ(s.health(2).ejections_total, 0U);
    EXPECT_EQ(picked(c), (std::set<std::size_t>{2, 3}));
    // Once one comes back, the next failure of the third one ejects it (its count kept going).
    expire_ejection(s.health(0));
    EXPECT_TRUE(c.report(c.endpoints()[2], AttemptResult::reset));
    EXPECT_FALSE(c.endpoints()[2].healthy());
}

TEST(ClusterOutlier, MaxEjectedPercentZeroStillAllowsOne) {
    Fixture s(4);
    s.outlier(1, 60'000ms, 300'000ms, 0);
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[3], AttemptResult::reset));
    EXPECT_FALSE(c.endpoints()[3].healthy());
    EXPECT_FALSE(c.report(c.endpoints()[1], AttemptResult::reset));
    EXPECT_TRUE(c.endpoints()[1].healthy());
}

TEST(ClusterOutlier, TwoWorkersCountTogetherAndEjectOnce) {
    Fixture s(2, 2);
    s.outlier(3, 60'000ms, 300'000ms);
    Cluster w0(s.cfg, s.shared, 0);
    Cluster w1(s.cfg, s.shared, 1);
    EXPECT_FALSE(w0.report(w0.endpoints()[0], AttemptResult::reset));
    EXPECT_FALSE(w1.report(w1.endpoints()[0], AttemptResult::timeout));
    EXPECT_TRUE(w0.endpoints()[0].healthy());
    EXPECT_TRUE(w1.report(w1.endpoints()[0], AttemptResult::connect_failure));
    // Both workers see it ejected.
    EXPECT_FALSE(w0.endpoints()[0].healthy());
    EXPECT_FALSE(w1.endpoints()[0].healthy());
    // Failures of requests still in flight on either worker do not eject it again.
    for (int i = 0; i < 4; ++i) {
        EXPECT_FALSE(w0.report(w0.endpoints()[0], AttemptResult::reset));
        EXPECT_FALSE(w1.report(w1.endpoints()[0], AttemptResult::reset));
    }
    EXPECT_EQ(s.health(0).ejections_total, 1U);
    EXPECT_EQ(s.health(0).ejection_level, 1U);
    EXPECT_EQ(s.health(0).worker_counters(0).ejections, 0U);
    EXPECT_EQ(s.health(0).worker_counters(1).ejections, 1U);
    EXPECT_EQ(s.health(0).totals().ejections, 1U);
    EXPECT_EQ(s.health(0).totals().requests, 11U);
}

TEST(ClusterOutlier, WithoutOutlierDetectionNothingIsEjected) {
    Fixture s(2);
    Cluster c(s.cfg, s.shared);
    for (int i = 0; i < 20; ++i) {
        EXPECT_FALSE(c.report(c.endpoints()[0], AttemptResult::connect_failure));
    }
    EXPECT_TRUE(c.endpoints()[0].healthy());
    EXPECT_EQ(s.health(0).ejected_until_ns, 0);
}

TEST(ClusterOutlier, SlowStartBeginsWhenTheEjectionEnds) {
    Fixture s(2);
    s.outlier(1, 50ms, 1000ms);
    s.cfg.slow_start = 60'000ms;
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[0], AttemptResult::reset));
    EXPECT_EQ(s.health(0).ready_since_ns, s.health(0).ejected_until_ns);
    EXPECT_EQ(s.health(0).state(s.cfg.slow_start), EndpointState::ejected);
    EXPECT_TRUE(eventually([&] { return c.endpoints()[0].healthy(); }));
    EXPECT_EQ(s.health(0).state(s.cfg.slow_start), EndpointState::slow_start);
}

// ---------------------------------------------------------------------------------------------
// Panic mode

TEST(ClusterPanic, SpreadUsesUnhealthyEndpointsWhenNoneIsHealthy) {
    Fixture s(3);
    s.cfg.panic = config::PanicMode::spread;
    Cluster c(s.cfg, s.shared);
    for (std::size_t i = 0; i < 3; ++i) {
        s.health(i).healthy = false;
    }
    bool refused = false;
    std::set<std::size_t> seen;
    for (int i = 0; i < 300; ++i) {
        Endpoint* ep = c.pick({}, {}, &refused);
        ASSERT_NE(ep, nullptr);
        seen.insert(ep->index);
    }
    EXPECT_FALSE(refused);
    EXPECT_EQ(seen, (std::set<std::size_t>{0, 1, 2}));
}

TEST(ClusterPanic, FailRefusesWhenNoneIsHealthy) {
    Fixture s(3);
    s.cfg.panic = config::PanicMode::fail;
    Cluster c(s.cfg, s.shared);
    // One healthy endpoint: no panic, it is used.
    s.health(0).healthy = false;
    s.health(1).healthy = false;
    bool refused = false;
    for (int i = 0; i < 50; ++i) {
        Endpoint* ep = c.pick({}, {}, &refused);
        ASSERT_NE(ep, nullptr);
        EXPECT_EQ(ep->index, 2U);
    }
    EXPECT_FALSE(refused);
    // None healthy: refused.
    s.health(2).healthy = false;
    EXPECT_EQ(c.pick({}, {}, &refused), nullptr);
    EXPECT_TRUE(refused);
    // Without the out-parameter it still refuses.
    EXPECT_EQ(c.pick({}, {}), nullptr);
}

TEST(ClusterPanic, FailAlsoAppliesWhenTheHealthyOnesWereTried) {
    Fixture s(2);
    s.cfg.panic = config::PanicMode::fail;
    Cluster c(s.cfg, s.shared);
    s.health(1).healthy = false;
    TriedSet tried;
    tried.add(0);
    bool refused = false;
    EXPECT_EQ(c.pick({}, tried, &refused), nullptr);
    EXPECT_TRUE(refused);
}

TEST(ClusterPanic, EjectedEndpointsAreUsedInSpreadPanic) {
    Fixture s(2);
    s.outlier(1, 60'000ms, 300'000ms, 100);
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[0], AttemptResult::reset));
    EXPECT_TRUE(c.report(c.endpoints()[1], AttemptResult::reset));
    EXPECT_EQ(picked(c), (std::set<std::size_t>{0, 1}));
}

TEST(ClusterPanic, DrainingEndpointsAreNeverReturnedEvenInPanic) {
    for (auto mode : {config::PanicMode::spread, config::PanicMode::fail}) {
        Fixture s(3);
        s.cfg.panic = mode;
        Cluster c(s.cfg, s.shared);
        // Healthy but draining, and two unhealthy: panic among the non-draining ones.
        s.health(0).set_draining(true);
        s.health(1).healthy = false;
        s.health(2).healthy = false;
        std::set<std::size_t> seen;
        for (int i = 0; i < 300; ++i) {
            bool refused = false;
            Endpoint* ep = c.pick({}, {}, &refused);
            if (mode == config::PanicMode::fail) {
                EXPECT_EQ(ep, nullptr);
                EXPECT_TRUE(refused);
            } else {
                ASSERT_NE(ep, nullptr);
                seen.insert(ep->index);
            }
        }
        if (mode == config::PanicMode::spread) {
            EXPECT_EQ(seen, (std::set<std::size_t>{1, 2}));
        }
        // All draining: nothing, and not a panic refusal.
        s.health(1).set_draining(true);
        s.health(2).set_draining(true);
        bool refused = false;
        EXPECT_EQ(c.pick({}, {}, &refused), nullptr);
        EXPECT_FALSE(refused);
    }
}

TEST(ClusterPanic, DrainingEndpointsAreSkippedByEveryBalancer) {
    for (auto kind : {BalancerKind::round_robin, BalancerKind::least_request, BalancerKind::random,
                      BalancerKind::ring_hash, BalancerKind::maglev, BalancerKind::peak_ewma}) {
        Fixture s(3);
        s.cfg.balancer = kind;
        Cluster c(s.cfg, s.shared);
        s.health(1).set_draining(true);
        s.health(0).healthy = false;
        s.health(2).healthy = false;
        for (std::uint64_t i = 0; i < 300; ++i) {
            PickContext ctx{.hash = mix64(i), .has_hash = true};
            Endpoint* ep = c.pick(ctx, {});
            ASSERT_NE(ep, nullptr);
            EXPECT_NE(ep->index, 1U) << static_cast<int>(kind);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Slow start

// Picks with a cluster of `kind` where endpoint 0 became ready `age` ago; returns endpoint 0's
// share relative to a fair share (1.0 = as many picks as each peer on average).
double slow_start_share(BalancerKind kind, std::chrono::nanoseconds age,
                        config::Duration window = 100'000ms) {
    Fixture s(4);
    s.cfg.balancer = kind;
    s.cfg.slow_start = window;
    Cluster c(s.cfg, s.shared);
    s.health(0).ready_since_ns = steady_now_ns() - age.count();
    constexpr std::uint64_t kPicks = 40'000;
    const auto counts = count_picks(c, kPicks);
    EXPECT_EQ(counts[4], 0U);  // never nullptr
    const double fair = static_cast<double>(kPicks) / 4.0;
    const double share = static_cast<double>(counts[0]) / fair;
    // The peers share the rest evenly.
    for (std::size_t i = 1; i < 4; ++i) {
        EXPECT_NEAR(static_cast<double>(counts[i]) / static_cast<double>(kPicks - counts[0]),
                    1.0 / 3.0, 0.03)
            << "endpoint " << i;
    }
    return share;
}

TEST(ClusterSlowStart, NewEndpointGetsAboutATenthOfItsShare) {
    for (auto kind : {BalancerKind::round_robin, BalancerKind::random}) {
        const double share = slow_start_share(kind, 0ns);
        EXPECT_GT(share, 0.06) << static_cast<int>(kind);
        EXPECT_LT(share, 0.15) << static_cast<int>(kind);
    }
}

TEST(ClusterSlowStart, MarkReadyStartsTheWindow) {
    Fixture s(4);
    s.cfg.slow_start = 1'000'000ms;
    Cluster c(s.cfg, s.shared);
    s.health(2).mark_ready();
    const auto counts = count_picks(c, 40'000);
    const double share = static_cast<double>(counts[2]) / 10'000.0;
    EXPECT_GT(share, 0.06);
    EXPECT_LT(share, 0.15);
    EXPECT_EQ(s.health(2).state(s.cfg.slow_start), EndpointState::slow_start);
}

TEST(ClusterSlowStart, ShareRampsWithAge) {
    // Halfway through the window: 0.1 + 0.9 × 0.5 = 0.55.
    const double share = slow_start_share(BalancerKind::round_robin, 50'000ms);
    EXPECT_GT(share, 0.45);
    EXPECT_LT(share, 0.65);
}

TEST(ClusterSlowStart, FullShareOnceTheWindowPassed) {
    for (auto kind : {BalancerKind::round_robin, BalancerKind::random}) {
        const double share = slow_start_share(kind, 120s, 60'000ms);
        EXPECT_GT(share, 0.9) << static_cast<int>(kind);
        EXPECT_LT(share, 1.1) << static_cast<int>(kind);
    }
}

TEST(ClusterSlowStart, NoWindowMeansFullShare) {
    const double share = slow_start_share(BalancerKind::round_robin, 0ns, 0ms);
    EXPECT_GT(share, 0.9);
    EXPECT_LT(share, 1.1);
}

TEST(ClusterSlowStart, TheOnlyHealthyEndpointGetsEveryPickEvenInItsWindow) {
    Fixture s(3);
    s.cfg.slow_start = 100'000ms;
    Cluster c(s.cfg, s.shared);
    s.health(0).mark_ready();
    s.health(1).healthy = false;
    s.health(2).set_draining(true);
    const auto counts = count_picks(c, 1000);
    EXPECT_EQ(counts[0], 1000U);
}

TEST(ClusterSlowStart, HashBalancersAreUnaffected) {
    for (auto kind : {BalancerKind::ring_hash, BalancerKind::maglev}) {
        Fixture s(4);
        s.cfg.balancer = kind;
        s.cfg.slow_start = 1'000'000ms;
        Cluster c(s.cfg, s.shared);
        std::vector<std::size_t> before;
        for (std::uint64_t i = 0; i < 2000; ++i) {
            Endpoint* ep = c.pick({.hash = mix64(i), .has_hash = true}, {});
            ASSERT_NE(ep, nullptr);
            before.push_back(ep->index);
        }
        s.health(0).mark_ready();
        std::size_t to_zero = 0;
        for (std::uint64_t i = 0; i < 2000; ++i) {
            Endpoint* ep = c.pick({.hash = mix64(i), .has_hash = true}, {});
            ASSERT_NE(ep, nullptr);
            EXPECT_EQ(ep->index, before[i]) << static_cast<int>(kind) << " key " << i;
            to_zero += ep->index == 0 ? 1 : 0;
        }
        EXPECT_GT(to_zero, 300U) << static_cast<int>(kind);  // about a quarter of 2000 keys
    }
}

// ---------------------------------------------------------------------------------------------
// Retry budget

TEST(ClusterRetryBudget, MinRetriesWithNoActiveRequests) {
    Fixture s(1);
    s.cfg.retry_budget.percent = 50;
    s.cfg.retry_budget.min_retries = 3;
    Cluster c(s.cfg, s.shared);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(c.begin_retry(), CircuitLimit::none) << i;
    }
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    c.end_retry();
    EXPECT_EQ(c.begin_retry(), CircuitLimit::none);
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    // The budget is not a breaker limit: no trips.
    EXPECT_EQ(s.shared.circuit->trips, 0U);
}

TEST(ClusterRetryBudget, PercentOfActiveRequests) {
    Fixture s(1);
    s.cfg.retry_budget.percent = 50;
    s.cfg.retry_budget.min_retries = 3;
    Cluster c(s.cfg, s.shared);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(c.begin_request(), CircuitLimit::none);
    }
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(c.begin_retry(), CircuitLimit::none) << i;
    }
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    c.end_retry();
    EXPECT_EQ(c.begin_retry(), CircuitLimit::none);
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    // Fewer requests in flight: 4 × 50 % = 2, below min_retries, so 3 are allowed; 5 run.
    for (int i = 0; i < 6; ++i) {
        c.end_request();
    }
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    c.end_retry();
    c.end_retry();
    c.end_retry();
    EXPECT_EQ(c.begin_retry(), CircuitLimit::none);  // the third of 3
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
}

TEST(ClusterRetryBudget, IsPerWorker) {
    Fixture s(1, 2);
    s.cfg.retry_budget.percent = 0;
    s.cfg.retry_budget.min_retries = 1;
    Cluster w0(s.cfg, s.shared, 0);
    Cluster w1(s.cfg, s.shared, 1);
    EXPECT_EQ(w0.begin_retry(), CircuitLimit::none);
    EXPECT_EQ(w0.begin_retry(), CircuitLimit::retries);
    EXPECT_EQ(w1.begin_retry(), CircuitLimit::none);
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

TEST(ClusterCircuitBreaker, MaxRequests) {
    Fixture s(1);
    s.cfg.circuit_breaker.max_requests = 2;
    Cluster c(s.cfg, s.shared);
    EXPECT_EQ(c.begin_request(), CircuitLimit::none);
    EXPECT_EQ(c.begin_request(), CircuitLimit::none);
    EXPECT_EQ(c.begin_request(), CircuitLimit::requests);
    EXPECT_EQ(s.shared.circuit->trips, 1U);
    EXPECT_EQ(s.shared.circuit->requests, 2);
    EXPECT_EQ(c.begin_request(), CircuitLimit::requests);
    EXPECT_EQ(s.shared.circuit->trips, 2U);
    c.end_request();
    EXPECT_EQ(s.shared.circuit->requests, 1);
    EXPECT_EQ(c.begin_request(), CircuitLimit::none);
    EXPECT_EQ(s.shared.circuit->trips, 2U);
}

TEST(ClusterCircuitBreaker, MaxRequestsIsSharedByWorkers) {
    Fixture s(1, 2);
    s.cfg.circuit_breaker.max_requests = 2;
    Cluster w0(s.cfg, s.shared, 0);
    Cluster w1(s.cfg, s.shared, 1);
    EXPECT_EQ(w0.begin_request(), CircuitLimit::none);
    EXPECT_EQ(w1.begin_request(), CircuitLimit::none);
    EXPECT_EQ(w0.begin_request(), CircuitLimit::requests);
    EXPECT_EQ(w1.begin_request(), CircuitLimit::requests);
    w1.end_request();
    EXPECT_EQ(w0.begin_request(), CircuitLimit::none);
}

TEST(ClusterCircuitBreaker, UnlimitedCountsNothing) {
    Fixture s(1);
    Cluster c(s.cfg, s.shared);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(c.begin_request(), CircuitLimit::none);
        EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
    }
    EXPECT_EQ(s.shared.circuit->requests, 0);
    EXPECT_EQ(s.shared.circuit->pending, 0);
    EXPECT_EQ(s.shared.circuit->trips, 0U);
}

TEST(ClusterCircuitBreaker, MaxPending) {
    Fixture s(1);
    s.cfg.circuit_breaker.max_pending = 1;
    Cluster c(s.cfg, s.shared);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::pending);
    EXPECT_EQ(s.shared.circuit->trips, 1U);
    EXPECT_EQ(s.shared.circuit->pending, 1);
    c.end_connect();
    EXPECT_EQ(s.shared.circuit->pending, 0);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
}

TEST(ClusterCircuitBreaker, MaxConnectionsCountsConnectionsUntilDestroyed) {
    asio::io_context io;
    Fixture s(1);
    s.cfg.circuit_breaker.max_connections = 2;
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[0];
    auto a = std::make_unique<Connection>(io.get_executor(), &ep);
    auto b = std::make_unique<Connection>(io.get_executor(), &ep);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
    c.count_connection(*a);
    c.end_connect();
    c.count_connection(*a);  // counted once
    EXPECT_EQ(s.shared.circuit->connections, 1);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
    c.count_connection(*b);
    c.end_connect();
    EXPECT_EQ(s.shared.circuit->connections, 2);
    EXPECT_EQ(a->counted, s.shared.circuit.get());
    EXPECT_EQ(c.begin_connect(), CircuitLimit::connections);
    EXPECT_EQ(s.shared.circuit->trips, 1U);
    // An idle pooled connection still counts.
    c.put_idle(std::move(b));
    EXPECT_EQ(ep.idle.size(), 1U);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::connections);
    // Closing one frees a slot.
    a.reset();
    EXPECT_EQ(s.shared.circuit->connections, 1);
    EXPECT_EQ(c.begin_connect(), CircuitLimit::none);
    c.end_connect();
    c.close_idle();
    EXPECT_EQ(s.shared.circuit->connections, 0);
}

TEST(ClusterCircuitBreaker, ConnectionsAreNotCountedWithoutALimit) {
    asio::io_context io;
    Fixture s(1);
    Cluster c(s.cfg, s.shared);
    Connection conn(io.get_executor(), &c.endpoints()[0]);
    c.count_connection(conn);
    EXPECT_EQ(conn.counted, nullptr);
    EXPECT_EQ(s.shared.circuit->connections, 0);
}

TEST(ClusterCircuitBreaker, MaxRetries) {
    Fixture s(1);
    s.cfg.retry_budget.min_retries = 10;
    s.cfg.circuit_breaker.max_retries = 1;
    Cluster c(s.cfg, s.shared);
    EXPECT_EQ(c.begin_retry(), CircuitLimit::none);
    EXPECT_EQ(c.begin_retry(), CircuitLimit::retries);
    EXPECT_EQ(s.shared.circuit->trips, 1U);
    EXPECT_EQ(s.shared.circuit->retries, 1);
    c.end_retry();
    EXPECT_EQ(s.shared.circuit->retries, 0);
    EXPECT_EQ(c.begin_retry(), CircuitLimit::none);
}

TEST(ClusterCircuitBreaker, CauseNames) {
    EXPECT_STREQ(circuit_cause(CircuitLimit::none), "");
    EXPECT_STREQ(circuit_cause(CircuitLimit::connections), "circuit_open_connections");
    EXPECT_STREQ(circuit_cause(CircuitLimit::pending), "circuit_open_pending");
    EXPECT_STREQ(circuit_cause(CircuitLimit::requests), "circuit_open_requests");
    EXPECT_STREQ(circuit_cause(CircuitLimit::retries), "circuit_open_retries");
}

// ---------------------------------------------------------------------------------------------
// Idle pool

TEST(ClusterPool, PutIdleKeepsConnectionsUnlessDrainingFullOrUsedUp) {
    asio::io_context io;
    Fixture s(2);
    s.cfg.pool.max_idle = 2;
    s.cfg.pool.max_requests = 10;
    Cluster c(s.cfg, s.shared);
    auto& ep0 = c.endpoints()[0];
    auto& ep1 = c.endpoints()[1];

    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep0));
    EXPECT_EQ(ep0.idle.size(), 1U);
    EXPECT_NE(ep0.idle.back()->idle_since, std::chrono::steady_clock::time_point{});
    auto used_up = std::make_unique<Connection>(io.get_executor(), &ep0);
    used_up->requests = 10;
    c.put_idle(std::move(used_up));
    EXPECT_EQ(ep0.idle.size(), 1U);
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep0));
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep0));  // full
    EXPECT_EQ(ep0.idle.size(), 2U);

    s.health(1).set_draining(true);
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep1));
    EXPECT_TRUE(ep1.idle.empty());
    s.health(1).set_draining(false);
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep1));
    EXPECT_EQ(ep1.idle.size(), 1U);
}

TEST(ClusterPool, TakeIdleReturnsTheMostRecentAndSkipsExpired) {
    asio::io_context io;
    Fixture s(1);
    s.cfg.pool.idle_timeout = 60'000ms;
    Cluster c(s.cfg, s.shared);
    auto& ep = c.endpoints()[0];
    EXPECT_EQ(c.take_idle(ep), nullptr);
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep));
    c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep));
    Connection* newest = ep.idle.back().get();
    ep.idle.front()->idle_since -= 120s;  // expired
    auto got = c.take_idle(ep);
    EXPECT_EQ(got.get(), newest);
    EXPECT_EQ(c.take_idle(ep), nullptr);  // the expired one was closed on the way
    EXPECT_TRUE(ep.idle.empty());
}

TEST(ClusterPool, SweepClosesIdleOfDrainingEndpointsAndTimedOutOnes) {
    asio::io_context io;
    Fixture s(3);
    s.cfg.pool.idle_timeout = 60'000ms;
    Cluster c(s.cfg, s.shared);
    for (auto& ep : c.endpoints()) {
        c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep));
        c.put_idle(std::make_unique<Connection>(io.get_executor(), &ep));
    }
    c.endpoints()[2].idle.front()->idle_since -= 120s;
    s.health(1).set_draining(true);
    c.sweep(std::chrono::steady_clock::now());
    EXPECT_EQ(c.endpoints()[0].idle.size(), 2U);
    EXPECT_TRUE(c.endpoints()[1].idle.empty());
    EXPECT_EQ(c.endpoints()[2].idle.size(), 1U);
    // Later, everything left timed out.
    c.sweep(std::chrono::steady_clock::now() + 61s);
    EXPECT_TRUE(c.endpoints()[0].idle.empty());
    EXPECT_TRUE(c.endpoints()[2].idle.empty());
}

TEST(ClusterPool, SweepClearsExpiredEjectionsOnly) {
    Fixture s(2);
    s.outlier(1, 60'000ms, 300'000ms);
    Cluster c(s.cfg, s.shared);
    EXPECT_TRUE(c.report(c.endpoints()[0], AttemptResult::reset));
    EXPECT_TRUE(c.report(c.endpoints()[1], AttemptResult::reset));
    const auto until1 = s.health(1).ejected_until_ns.load();
    s.health(0).ejected_until_ns = steady_now_ns() - 1;
    c.sweep(std::chrono::steady_clock::now());
    EXPECT_EQ(s.health(0).ejected_until_ns, 0);
    EXPECT_EQ(s.health(1).ejected_until_ns, until1);
    EXPECT_TRUE(c.endpoints()[0].healthy());
    EXPECT_FALSE(c.endpoints()[1].healthy());
}

TEST(ClusterPool, AdoptIdleMovesConnectionsToTheSameAddress) {
    asio::io_context io;
    Fixture old_setup(3, 1, 9001);  // 9001, 9002, 9003
    Fixture new_setup(3, 1, 9002);  // 9002, 9003, 9004
    Cluster old_cluster(old_setup.cfg, old_setup.shared);
    Cluster new_cluster(new_setup.cfg, new_setup.shared);
    for (auto& ep : old_cluster.endpoints()) {
        old_cluster.put_idle(std::make_unique<Connection>(io.get_executor(), &ep));
    }
    old_cluster.put_idle(
        std::make_unique<Connection>(io.get_executor(), &old_cluster.endpoints()[1]));
    Connection* moved = old_cluster.endpoints()[1].idle.front().get();
    // 9003 is draining in the new cluster: its connections stay behind.
    new_setup.health(1).set_draining(true);

    new_cluster.adopt_idle(old_cluster);

    EXPECT_EQ(old_cluster.endpoints()[0].idle.size(), 1U);  // 9001: gone from the new cluster
    EXPECT_TRUE(old_cluster.endpoints()[1].idle.empty());   // 9002: moved
    EXPECT_EQ(old_cluster.endpoints()[2].idle.size(), 1U);  // 9003: draining in the new one
    auto& to = new_cluster.endpoints()[0];
    ASSERT_EQ(to.idle.size(), 2U);
    EXPECT_EQ(to.idle.front().get(), moved);
    for (const auto& conn : to.idle) {
        EXPECT_EQ(conn->endpoint, &to);
    }
    EXPECT_TRUE(new_cluster.endpoints()[1].idle.empty());
    EXPECT_TRUE(new_cluster.endpoints()[2].idle.empty());
    // Reusable from the new cluster.
    EXPECT_EQ(new_cluster.take_idle(to).get() != nullptr, true);
}

TEST(ClusterPool, ClusterUseCountsUsers) {
    Fixture s(1);
    Cluster c(s.cfg, s.shared);
    EXPECT_EQ(c.users(), 0U);
    {
        ClusterUse a(c);
        ClusterUse b(c);
        EXPECT_EQ(c.users(), 2U);
    }
    EXPECT_EQ(c.users(), 0U);
}

// ---------------------------------------------------------------------------------------------
// EndpointHealth

TEST(EndpointHealthState, EachStateAndTheFirstThatAppliesWins) {
    EndpointHealth h;
    EXPECT_EQ(h.state(10s), EndpointState::healthy);  // ready_since 0: no slow start

    h.mark_ready();
    EXPECT_EQ(h.state(10s), EndpointState::slow_start);
    EXPECT_EQ(h.state(0s), EndpointState::healthy);  // slow start off
    h.ready_since_ns = steady_now_ns() - 11 * 1000 * kMs;
    EXPECT_EQ(h.state(10s), EndpointState::healthy);  // window passed

    h.ejected_until_ns = steady_now_ns() + 60 * 1000 * kMs;
    EXPECT_EQ(h.state(10s), EndpointState::ejected);
    EXPECT_FALSE(h.is_healthy());

    h.healthy = false;
    EXPECT_EQ(h.state(10s), EndpointState::unhealthy);

    h.set_draining(true);
    EXPECT_EQ(h.state(10s), EndpointState::draining);
    EXPECT_TRUE(h.is_draining());

    h.set_draining(false);
    EXPECT_EQ(h.state(10s), EndpointState::unhealthy);
    h.healthy = true;
    EXPECT_EQ(h.state(10s), EndpointState::ejected);
    h.ejected_until_ns = steady_now_ns() - 1;
    EXPECT_TRUE(h.is_healthy());
    // Undraining started a slow-start window.
    EXPECT_EQ(h.state(10s), EndpointState::slow_start);
}

TEST(EndpointHealthState, UndrainStartsSlowStartButDrainingAgainDoesNot) {
    EndpointHealth h;
    h.set_draining(true);
    EXPECT_EQ(h.ready_since_ns, 0);
    h.set_draining(true);
    EXPECT_EQ(h.ready_since_ns, 0);
    h.set_draining(false);
    EXPECT_NE(h.ready_since_ns, 0);
    const auto since = h.ready_since_ns.load();
    h.set_draining(false);  // not draining: no new window
    EXPECT_EQ(h.ready_since_ns, since);
}

TEST(EndpointHealthState, Names) {
    EXPECT_STREQ(endpoint_state_name(EndpointState::draining), "draining");
    EXPECT_STREQ(endpoint_state_name(EndpointState::unhealthy), "unhealthy");
    EXPECT_STREQ(endpoint_state_name(EndpointState::ejected), "ejected");
    EXPECT_STREQ(endpoint_state_name(EndpointState::slow_start), "slow_start");
    EXPECT_STREQ(endpoint_state_name(EndpointState::healthy), "healthy");
}

TEST(EndpointHealthState, ZeroWorkersStillHasOneSlot) {
    EndpointHealth h(0);
    EXPECT_EQ(h.worker_count, 1U);
    EndpointCounters::bump(h.worker_counters(5).requests);
    EXPECT_EQ(h.totals().requests, 1U);
}

}  // namespace
}  // namespace usher::upstream
