#include "upstream/health_checker.hpp"

#include <gtest/gtest.h>

#include <future>

namespace usher::upstream {
namespace {

using namespace std::chrono_literals;

// A listening socket nobody accepts on: the kernel completes TCP connects from its backlog.
struct Listener {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    SharedEndpoint endpoint(const std::string& label) {
        SharedEndpoint se;
        se.label = label;
        se.address = acceptor.local_endpoint();
        return se;
    }
};

config::HealthCheck tcp_check() {
    config::HealthCheck c;
    c.kind = config::HealthCheckKind::tcp;
    c.interval = 5ms;
    c.jitter = 0ms;
    c.timeout = 1s;
    return c;
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

// Runs `f` on the checker thread and returns its result.
template <class F>
auto on_checker(HealthChecker& checker, F f) {
    std::promise<decltype(f())> p;
    auto fut = p.get_future();
    asio::post(checker.executor(), [&] { p.set_value(f()); });
    return fut.get();
}

TEST(HealthChecker, UpdateStopsRemovedEndpointsAndChecksAddedOnes) {
    Listener la, lb;
    auto a = la.endpoint("a");
    auto b = lb.endpoint("b");
    HealthChecker checker;
    checker.add_cluster("api", tcp_check(), {a});
    checker.start();
    ASSERT_TRUE(eventually([&] { return a.health->checks.load() > 0; }));
    EXPECT_EQ(b.health->checks.load(), 0u);

    // On the checker thread (as the DNS refresher runs): a removed, b added.
    const auto a_checks = on_checker(checker, [&] {
        checker.update_cluster("api", {b});
        return a.health->checks.load();
    });
    ASSERT_TRUE(eventually([&] { return b.health->checks.load() >= 5; }));
    EXPECT_EQ(a.health->checks.load(), a_checks) << "a removed endpoint is still checked";
    EXPECT_EQ(on_checker(checker, [&] { return checker.target_count(); }), 1u);
    checker.stop();
}

TEST(HealthChecker, UpdateKeepsUnchangedTargetsAndIgnoresClustersWithoutChecks) {
    Listener la;
    auto a = la.endpoint("a");
    HealthChecker checker;
    checker.add_cluster("api", tcp_check(), {a});
    checker.update_cluster("api", {a});    // same health object: nothing to do
    checker.update_cluster("other", {a});  // no check configured for "other"
    EXPECT_EQ(checker.target_count(), 1u);
    checker.update_cluster("api", {});
    EXPECT_EQ(checker.target_count(), 0u);
}

TEST(HealthChecker, SpawnedTaskRunsOnTheCheckerThreadWithNothingToCheck) {
    HealthChecker checker;
    EXPECT_TRUE(checker.empty());
    std::promise<std::thread::id> ran;
    // A coroutine's parameters live in its frame (a lambda's captures would not).
    auto task = [](std::promise<std::thread::id>* p) -> Task<void> {
        p->set_value(std::this_thread::get_id());
        co_return;
    };
    checker.spawn(task(&ran));
    EXPECT_FALSE(checker.empty());
    checker.start();
    auto fut = ran.get_future();
    ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
    EXPECT_NE(fut.get(), std::this_thread::get_id());
    checker.stop();
}

}  // namespace
}  // namespace usher::upstream
