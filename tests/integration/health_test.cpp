// Active health checks through the real binary: a failing endpoint is ejected within
// interval x threshold, traffic goes to the healthy one, and it is re-admitted after recovery.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

// Answers /health with 200 or 503 depending on `healthy`, every other path with `name`.
FakeBackend::Handler checked_backend(std::string name, std::shared_ptr<std::atomic<bool>> healthy) {
    return [name, healthy](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            bool check = req->start_line.find(" /health ") != std::string::npos;
            std::string body = check ? (healthy->load() ? "ok" : "down") : name;
            int status = check && !healthy->load() ? 503 : 200;
            if (!send_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body)) {
                return;
            }
            if (req->header("connection").value_or("") == "close") {
                return;
            }
        }
    };
}

std::string config(const FakeBackend& a, const FakeBackend& b, const std::string& check) {
    return "workers: 2\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
           "    endpoints: [\"" +
           a.address() + "\", \"" + b.address() +
           "\"]\n"
           "    health_check: " +
           check + "\n";
}

// Counts which backend answered over `n` requests.
std::pair<int, int> spread(const UsherProcess& usher, int n) {
    int a = 0, b = 0;
    for (int i = 0; i < n; ++i) {
        auto r = curl_request(usher.url("/x"));
        a += r.body == "A" ? 1 : 0;
        b += r.body == "B" ? 1 : 0;
    }
    return {a, b};
}

TEST(HealthChecks, FailingEndpointIsEjectedAndReadmittedAfterRecovery) {
    auto a_ok = std::make_shared<std::atomic<bool>>(true);
    auto b_ok = std::make_shared<std::atomic<bool>>(true);
    FakeBackend a(checked_backend("A", a_ok));
    FakeBackend b(checked_backend("B", b_ok));
    UsherProcess usher(config(a, b,
                              "{path: /health, interval: 100ms, jitter: 0, timeout: 500ms, "
                              "healthy_threshold: 2, unhealthy_threshold: 2}"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto [a1, b1] = spread(usher, 20);
    EXPECT_GT(a1, 0);
    EXPECT_GT(b1, 0);

    b_ok->store(false);
    auto start = Clock::now();
    // Ejection within interval x threshold (200 ms) plus one check in flight; allow slack.
    while (usher.log().find("is unhealthy") == std::string::npos && Clock::now() - start < 5s) {
        std::this_thread::sleep_for(20ms);
    }
    auto ejected_after = Clock::now() - start;
    EXPECT_LT(ejected_after, 1s) << usher.log();
    auto [a2, b2] = spread(usher, 20);
    EXPECT_EQ(a2, 20);
    EXPECT_EQ(b2, 0) << "traffic still reached the unhealthy endpoint";

    b_ok->store(true);
    start = Clock::now();
    while (usher.log().find("is healthy again") == std::string::npos && Clock::now() - start < 5s) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_LT(Clock::now() - start, 1s) << usher.log();
    auto [a3, b3] = spread(usher, 20);
    EXPECT_GT(b3, 0) << "the recovered endpoint gets traffic again";
    EXPECT_GT(a3, 0);
}

TEST(HealthChecks, TcpCheckEjectsAClosedPort) {
    auto a_ok = std::make_shared<std::atomic<bool>>(true);
    FakeBackend a(checked_backend("A", a_ok));
    int dead_port;
    {
        FakeBackend tmp(nullptr);
        dead_port = tmp.port();
    }
    UsherProcess usher(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        a.address() + "\", \"127.0.0.1:" + std::to_string(dead_port) +
        "\"]\n"
        "    health_check: {type: tcp, interval: 100ms, jitter: 0, "
        "unhealthy_threshold: 1}\n");
    ASSERT_TRUE(usher.started()) << usher.log();
    auto start = Clock::now();
    while (usher.log().find("is unhealthy") == std::string::npos && Clock::now() - start < 5s) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_NE(usher.log().find("connect: Connection refused"), std::string::npos) << usher.log();
    auto [ok, other] = spread(usher, 10);
    EXPECT_EQ(ok, 10);
    (void)other;
}

TEST(HealthChecks, BodyMustContainTheExpectedText) {
    auto a_ok = std::make_shared<std::atomic<bool>>(true);
    auto b_ok = std::make_shared<std::atomic<bool>>(true);
    FakeBackend a(checked_backend("A", a_ok));
    FakeBackend b([](int fd, int) {  // answers 200 to everything, but with the wrong body
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB")) {
                return;
            }
        }
    });
    UsherProcess usher(config(a, b,
                              "{path: /health, body_contains: ok, interval: 100ms, jitter: 0, "
                              "unhealthy_threshold: 1}"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto start = Clock::now();
    while (usher.log().find("is unhealthy") == std::string::npos && Clock::now() - start < 5s) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_NE(usher.log().find("body does not contain \"ok\""), std::string::npos) << usher.log();
    auto [a1, b1] = spread(usher, 10);
    EXPECT_EQ(a1, 10);
    EXPECT_EQ(b1, 0);
}

}  // namespace
}  // namespace usher::test
