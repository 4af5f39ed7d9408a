// The fault test of issue 4: three backends behind usher, a steady client sending GETs for 20 s.
// One backend dies at 5 s and comes back at 12 s (or hangs from 5 s to 12 s): no client request
// fails, none waits longer than the per-try timeout plus one retry (hang), and the backend gets
// traffic again once it passes its health check.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDuration = 20s;
constexpr auto kFaultStart = 5s;
constexpr auto kFaultEnd = 12s;
constexpr int kClients = 4;

// A backend of the fault test: answers /health and /work with 200 "<name>", counts the /work
// requests, and while `hang` is set reads requests without ever answering them.
struct Backend {
    explicit Backend(std::string name) : name_(std::move(name)) {
        server = std::make_unique<FakeBackend>([this](int fd, int) { serve(fd); });
    }
    void serve(int fd) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            bool check = req->start_line.find(" /health ") != std::string::npos;
            if (hang.load()) {
                hung += check ? 0 : 1;
                closed_by_peer(fd, 30s);  // until usher gives up on it (or the test ends)
                return;
            }
            if (!check) {
                ++served;
            }
            std::string resp = std::string("HTTP/1.1 200 OK\r\nContent-Length: ") +
                               std::to_string(name_.size()) + "\r\n\r\n" + name_;
            if (!send_all(fd, resp)) {
                return;
            }
        }
    }
    std::string name_;
    std::atomic<bool> hang{false};
    std::atomic<long> served{0};  // /work requests answered
    std::atomic<long> hung{0};    // /work requests read and never answered
    std::unique_ptr<FakeBackend> server;
};

std::string fault_config(const std::vector<Backend*>& backends) {
    std::string eps;
    for (auto* b : backends) {
        eps.append(eps.empty() ? "\"" : ", \"").append(b->server->address()).append("\"");
    }
    // min_retries covers one retry per client in flight: the budget is not what is tested here.
    return std::string(
               "workers: 2\nlisteners:\n  - address: \"{LISTEN}\"\n"
               "timeouts: {connect: 1s, upstream_header: 10s}\n"
               "routes:\n  - match: {path: /work}\n    cluster: app\n"
               "    retry: {retries: 2, on: [connect_failure, reset, timeout], "
               "per_try_timeout: 500ms}\n"
               "clusters:\n  app:\n    endpoints: [") +
           eps +
           "]\n    balancer: round_robin\n"
           "    health_check: {path: /health, interval: 500ms, jitter: 100ms, timeout: 300ms, "
           "unhealthy_threshold: 2, healthy_threshold: 2}\n"
           "    retry_budget: {percent: 20, min_retries: " +
           std::to_string(kClients) + "}\n";
}

struct LoadResult {
    long sent = 0;
    long failed = 0;
    double max_latency_s = 0;
    double max_latency_at_s = 0;        // when (since start) the slowest request began
    std::vector<std::string> failures;  // the first few
};

// kClients threads, each with one keep-alive connection, send GET /work until `end`.
LoadResult run_load(const UsherProcess& usher, Clock::time_point start, Clock::time_point end) {
    std::mutex mu;
    LoadResult total;
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&] {
            CurlClient client;
            LoadResult mine;
            while (Clock::now() < end) {
                auto t0 = Clock::now();
                auto r = client.get(usher.url("/work"));
                double latency = std::chrono::duration<double>(Clock::now() - t0).count();
                ++mine.sent;
                if (latency > mine.max_latency_s) {
                    mine.max_latency_s = latency;
                    mine.max_latency_at_s = std::chrono::duration<double>(t0 - start).count();
                }
                if (r.curl_code != 0 || r.status != 200) {
                    ++mine.failed;
                    if (mine.failures.size() < 5) {
                        char line[160];
                        std::snprintf(line, sizeof line, "t=%.3fs curl=%d status=%ld body=%.60s",
                                      std::chrono::duration<double>(t0 - start).count(),
                                      r.curl_code, r.status, r.body.c_str());
                        mine.failures.emplace_back(line);
                    }
                }
                std::this_thread::sleep_for(2ms);  // pacing: a steady, not a flooding, client
            }
            std::lock_guard lock(mu);
            total.sent += mine.sent;
            total.failed += mine.failed;
            if (mine.max_latency_s > total.max_latency_s) {
                total.max_latency_s = mine.max_latency_s;
                total.max_latency_at_s = mine.max_latency_at_s;
            }
            total.failures.insert(total.failures.end(), mine.failures.begin(), mine.failures.end());
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    return total;
}

void report(const char* name, const LoadResult& r, const std::vector<Backend*>& backends,
            const std::string& fault_figure, long victim_recovered) {
    std::printf("%s: sent=%ld failed=%ld max_latency=%.3fs (at t=%.2fs) per_backend=", name, r.sent,
                r.failed, r.max_latency_s, r.max_latency_at_s);
    for (auto* b : backends) {
        std::printf("%s:%ld ", b->name_.c_str(), b->served.load());
    }
    std::printf("%s victim_served_last_5s=%ld\n", fault_figure.c_str(), victim_recovered);
    for (const auto& f : r.failures) {
        std::printf("  failure: %s\n", f.c_str());
    }
    std::fflush(stdout);
    testing::Test::RecordProperty("requests_sent", std::to_string(r.sent));
    testing::Test::RecordProperty("requests_failed", std::to_string(r.failed));
    testing::Test::RecordProperty("max_latency_ms",
                                  std::to_string(static_cast<long>(r.max_latency_s * 1000)));
    for (auto* b : backends) {
        testing::Test::RecordProperty(std::string("served_") + b->name_,
                                      std::to_string(b->served.load()));
    }
}

TEST(FaultTest, ABackendKilledAt5sAndRestartedAt12sCostsNoRequest) {
    Backend a("A"), b("B"), c("C");
    std::vector<Backend*> all{&a, &b, &c};
    UsherProcess usher(fault_config(all));
    ASSERT_TRUE(usher.started()) << usher.log();

    const auto start = Clock::now();
    long c_before_kill = 0, c_window_start = 0, total_window_start = 0;
    long c_window_end = 0, total_window_end = 0;
    bool restarted = false;
    std::thread fault([&] {
        std::this_thread::sleep_until(start + kFaultStart);
        c.server->stop();  // the process dies: refused connects, closed connections
        c_before_kill = c.served.load();
        std::this_thread::sleep_until(start + kFaultEnd);
        restarted = c.server->restart();
        // Judge the recovery over the last 5 s (health checks need ~1-2 s to re-admit it).
        std::this_thread::sleep_until(start + 15s);
        c_window_start = c.served.load();
        total_window_start = a.served.load() + b.served.load() + c.served.load();
        std::this_thread::sleep_until(start + kDuration - 100ms);
        c_window_end = c.served.load();
        total_window_end = a.served.load() + b.served.load() + c.served.load();
    });
    auto result = run_load(usher, start, start + kDuration);
    fault.join();
    ASSERT_TRUE(restarted) << "could not listen on port " << c.server->port() << " again";

    const long c_recovered = c_window_end - c_window_start;
    const long window_total = total_window_end - total_window_start;
    report("kill", result, all, std::string("victim_before_kill=") + std::to_string(c_before_kill),
           c_recovered);
    RecordProperty("victim_share_last_5s_permille",
                   std::to_string(window_total > 0 ? c_recovered * 1000 / window_total : 0));

    EXPECT_GT(result.sent, 1000) << "the load generator barely ran";
    EXPECT_EQ(result.failed, 0) << "client requests failed";
    EXPECT_GT(c_before_kill, 0);
    // Round robin over three healthy endpoints: about a third of the traffic in the last 5 s.
    EXPECT_GT(c_recovered * 5, window_total) << "the restarted backend did not get its share back";
    const auto log = usher.log();
    EXPECT_NE(log.find(std::string("endpoint ") + c.server->address() + " is unhealthy"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find(std::string("endpoint ") + c.server->address() + " is healthy again"),
              std::string::npos)
        << log;
}

TEST(FaultTest, ABackendHangingFrom5sTo12sCostsNoRequestAndNoLongWait) {
    Backend a("A"), b("B"), c("C");
    std::vector<Backend*> all{&a, &b, &c};
    UsherProcess usher(fault_config(all));
    ASSERT_TRUE(usher.started()) << usher.log();

    const auto start = Clock::now();
    long c_before = 0, c_window_start = 0, total_window_start = 0;
    long c_window_end = 0, total_window_end = 0, hung_at_9s = 0, hung_at_12s = 0;
    std::thread fault([&] {
        std::this_thread::sleep_until(start + kFaultStart);
        c_before = c.served.load();
        c.hang = true;
        // By 9 s the health checks (2 × (500 ms + jitter), 300 ms timeout) ejected it long ago:
        // no client request may reach it from then on.
        std::this_thread::sleep_until(start + 9s);
        hung_at_9s = c.hung.load();
        std::this_thread::sleep_until(start + kFaultEnd);
        hung_at_12s = c.hung.load();
        c.hang = false;
        std::this_thread::sleep_until(start + 15s);
        c_window_start = c.served.load();
        total_window_start = a.served.load() + b.served.load() + c.served.load();
        std::this_thread::sleep_until(start + kDuration - 100ms);
        c_window_end = c.served.load();
        total_window_end = a.served.load() + b.served.load() + c.served.load();
    });
    auto result = run_load(usher, start, start + kDuration);
    fault.join();

    const long c_recovered = c_window_end - c_window_start;
    const long window_total = total_window_end - total_window_start;
    report("hang", result, all,
           std::string("victim_requests_hung=") + std::to_string(c.hung.load()), c_recovered);
    RecordProperty("victim_requests_hung", std::to_string(c.hung.load()));

    EXPECT_GT(result.sent, 1000) << "the load generator barely ran";
    EXPECT_EQ(result.failed, 0) << "client requests failed";
    EXPECT_GT(c_before, 0);
    EXPECT_GT(c.hung.load(), 0) << "no request met the hanging backend: the test tested nothing";
    EXPECT_EQ(hung_at_12s, hung_at_9s) << "requests reached the hanging backend after its checks "
                                          "failed";
    // per_try_timeout 500 ms + one retry (a few ms, plus up to 25 ms of backoff) + scheduling.
    EXPECT_LT(result.max_latency_s, 1.5) << "a request waited longer than a per-try timeout plus "
                                            "one retry";
    EXPECT_GT(c_recovered * 5, window_total) << "the recovered backend did not get its share back";
}

}  // namespace
}  // namespace usher::test
