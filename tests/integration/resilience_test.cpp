// Resilience through the real binary: retries (on a status, after a reset, after a per-try
// timeout, within a budget), outlier ejection and its backoff, panic mode, the circuit breaker and
// drained endpoints, against fake backends that answer 5xx, reset, hang or are slow.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

// workers, one listener, `top` (routes, timeouts, access_log...) and cluster "app" with
// `endpoints` (YAML list items) and `cluster_extra` (indented cluster keys, one per line).
std::string config(const std::vector<std::string>& endpoints, const std::string& cluster_extra = "",
                   const std::string& top = "", int workers = 1) {
    std::string eps;
    for (const auto& e : endpoints) {
        eps.append(eps.empty() ? "" : ", ").append(e);
    }
    return std::string("workers: ") + std::to_string(workers) +
           "\nlisteners:\n  - address: \"{LISTEN}\"\n" + top +
           "clusters:\n  app:\n    endpoints: [" + eps + "]\n" + cluster_extra;
}

std::string quoted(const FakeBackend& b) {
    return std::string("\"").append(b.address()).append("\"");
}

// A route to "app" with the given `retry` value (empty: no retry key).
std::string route(const std::string& retry) {
    std::string r = "routes:\n  - cluster: app\n";
    if (!retry.empty()) {
        r.append("    retry: ").append(retry).append("\n");
    }
    return r;
}

std::string http_response(int status, const std::string& body) {
    return std::string("HTTP/1.1 ") + std::to_string(status) +
           " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Answers every request on a keep-alive connection with `status`/`body` and counts the requests.
FakeBackend::Handler counting(int status, std::string body,
                              std::shared_ptr<std::atomic<int>> count) {
    return [=](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            ++*count;
            if (!send_all(fd, http_response(status, body))) {
                return;
            }
        }
    };
}

// Reads one request, records it, and closes the connection without answering.
FakeBackend::Handler resetter(FakeBackend** self) {
    return [self](int fd, int) {
        std::string buf;
        if (auto req = read_request(fd, buf, 30s)) {
            (*self)->record(*req);
        }
    };
}

// Reads requests and never answers; returns when the peer closes (or the backend stops).
FakeBackend::Handler hanging(std::shared_ptr<std::atomic<int>> count) {
    return [count](int fd, int) {
        std::string buf;
        if (read_request(fd, buf, 30s)) {
            ++*count;
            closed_by_peer(fd, 30s);
        }
    };
}

int count_of(const std::vector<CurlResult>& results, long status) {
    return static_cast<int>(std::count_if(results.begin(), results.end(),
                                          [&](const CurlResult& r) { return r.status == status; }));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int occurrences(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size())) {
        ++n;
    }
    return n;
}

// Polls usher's log until `needle` appears `times` times or `timeout` passes.
bool wait_for_log(const UsherProcess& usher, const std::string& needle, int times,
                  std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (occurrences(usher.log(), needle) < times) {
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// ---- retries ----------------------------------------------------------------------------------

TEST(ResilienceRetries, A503IsRetriedOnTheOtherEndpoint) {
    auto good_count = std::make_shared<std::atomic<int>>(0);
    auto bad_count = std::make_shared<std::atomic<int>>(0);
    FakeBackend good(counting(200, "good", good_count));
    FakeBackend bad(counting(503, "bad", bad_count));
    UsherProcess usher(config({quoted(good), quoted(bad)}, "", route("{on: [503]}")));
    ASSERT_TRUE(usher.started()) << usher.log();
    constexpr int kRequests = 20;
    for (int i = 0; i < kRequests; ++i) {
        auto r = curl_request(usher.url("/r"));
        EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
        EXPECT_EQ(r.body, "good");
    }
    EXPECT_EQ(good_count->load(), kRequests);
    EXPECT_GT(bad_count->load(), 0) << "round robin never chose the failing endpoint";
    EXPECT_LE(bad_count->load(), kRequests) << "a request went to the failing endpoint twice";
}

TEST(ResilienceRetries, WithoutARetryPolicyA503IsPassedThrough) {
    auto good_count = std::make_shared<std::atomic<int>>(0);
    auto bad_count = std::make_shared<std::atomic<int>>(0);
    FakeBackend good(counting(200, "good", good_count));
    FakeBackend bad(counting(503, "bad", bad_count));
    UsherProcess usher(config({quoted(good), quoted(bad)}, "", route("")));
    ASSERT_TRUE(usher.started()) << usher.log();
    std::vector<CurlResult> results;
    for (int i = 0; i < 10; ++i) {
        results.push_back(curl_request(usher.url("/r")));
        const auto& r = results.back();
        EXPECT_TRUE((r.status == 200 && r.body == "good") || (r.status == 503 && r.body == "bad"))
            << r.status << " " << r.body;
    }
    EXPECT_GT(count_of(results, 503), 0);
    EXPECT_EQ(count_of(results, 503), bad_count->load()) << "a 503 was retried";
    EXPECT_EQ(count_of(results, 200), good_count->load());
}

TEST(ResilienceRetries, AnExhaustedRetryBudgetPassesThe503Through) {
    auto good_count = std::make_shared<std::atomic<int>>(0);
    auto bad_count = std::make_shared<std::atomic<int>>(0);
    FakeBackend good(counting(200, "good", good_count));
    FakeBackend bad(counting(503, "bad", bad_count));
    UsherProcess usher(config({quoted(good), quoted(bad)},
                              "    retry_budget: {percent: 0, min_retries: 0}\n",
                              route("{on: [503]}")));
    ASSERT_TRUE(usher.started()) << usher.log();
    std::vector<CurlResult> results;
    for (int i = 0; i < 10; ++i) {
        results.push_back(curl_request(usher.url("/r")));
    }
    EXPECT_GT(count_of(results, 503), 0) << "a retry was made without budget";
    EXPECT_EQ(count_of(results, 503), bad_count->load());
    EXPECT_EQ(count_of(results, 200) + count_of(results, 503), 10);
}

TEST(ResilienceRetries, AResetIsRetriedForGetButNotForPost) {
    FakeBackend* bad_ptr = nullptr;
    FakeBackend bad(resetter(&bad_ptr));
    bad_ptr = &bad;
    auto good = make_echo_backend();
    UsherProcess usher(config({quoted(*good), quoted(bad)}, "", route("{}")));
    ASSERT_TRUE(usher.started()) << usher.log();

    for (int i = 0; i < 10; ++i) {
        auto r = curl_request(usher.url("/get"));
        EXPECT_EQ(r.status, 200) << "GET " << i << ": " << r.body;
    }
    auto gets_reset = bad.requests().size();
    EXPECT_GT(gets_reset, 0u) << "round robin never chose the resetting endpoint";

    std::vector<CurlResult> posts;
    for (int i = 0; i < 10; ++i) {
        posts.push_back(curl_request(usher.url("/post"), {.method = "POST", .body = "data"}));
        EXPECT_TRUE(posts.back().status == 200 || posts.back().status == 502)
            << posts.back().status;
    }
    auto posts_reset = bad.requests().size() - gets_reset;
    EXPECT_GT(posts_reset, 0u);
    EXPECT_EQ(static_cast<std::size_t>(count_of(posts, 502)), posts_reset)
        << "a POST that was reset was retried";
}

TEST(ResilienceRetries, NonIdempotentRetryReplaysThePostBodyIntact) {
    FakeBackend* bad_ptr = nullptr;
    FakeBackend bad(resetter(&bad_ptr));
    bad_ptr = &bad;
    auto good = make_echo_backend();
    UsherProcess usher(
        config({quoted(*good), quoted(bad)}, "", route("{non_idempotent: true, backoff: 0}")));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (int i = 0; i < 10; ++i) {
        std::string body = std::string("payload-") + std::to_string(i) + std::string(1000, 'x');
        auto r = curl_request(usher.url("/post"), {.method = "POST", .body = body});
        EXPECT_EQ(r.status, 200) << "POST " << i << ": " << r.body;
        EXPECT_TRUE(r.body.ends_with(std::string("\n\n").append(body))) << r.body.substr(0, 200);
    }
    auto reset = bad.requests();
    EXPECT_GT(reset.size(), 0u) << "round robin never chose the resetting endpoint";
    auto answered = good->requests();
    EXPECT_EQ(answered.size(), 10u);
    for (const auto& m : answered) {
        EXPECT_EQ(m.header("content-length").value_or(""), std::to_string(m.body.size()));
        EXPECT_TRUE(m.body.starts_with("payload-")) << m.body.substr(0, 40);
    }
}

TEST(ResilienceRetries, PerTryTimeoutMovesAHungAttemptToAnotherEndpoint) {
    auto hung = std::make_shared<std::atomic<int>>(0);
    auto ok = std::make_shared<std::atomic<int>>(0);
    FakeBackend hang(hanging(hung));
    FakeBackend good(counting(200, "good", ok));
    UsherProcess usher(config({quoted(good), quoted(hang)}, "",
                              std::string("timeouts: {upstream_header: 5s}\n")
                                  .append(route("{per_try_timeout: 300ms, backoff: 0}"))));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (int i = 0; i < 6; ++i) {
        auto r = curl_request(usher.url("/t"));
        EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
        EXPECT_LT(r.total_time, 2.0) << "request " << i << " waited for upstream_header";
    }
    EXPECT_GT(hung->load(), 0) << "round robin never chose the hanging endpoint";
    EXPECT_EQ(ok->load(), 6);
}

TEST(ResilienceRetries, WithoutRetriesAHungBackendIsA504) {
    auto hung = std::make_shared<std::atomic<int>>(0);
    auto ok = std::make_shared<std::atomic<int>>(0);
    FakeBackend hang(hanging(hung));
    FakeBackend good(counting(200, "good", ok));
    UsherProcess usher(
        config({quoted(good), quoted(hang)}, "",
               std::string("timeouts: {upstream_header: 500ms}\n").append(route(""))));
    ASSERT_TRUE(usher.started()) << usher.log();
    std::vector<CurlResult> results;
    for (int i = 0; i < 4; ++i) {
        results.push_back(curl_request(usher.url("/t")));
    }
    EXPECT_GT(count_of(results, 504), 0);
    EXPECT_EQ(count_of(results, 504), hung->load());
    EXPECT_EQ(count_of(results, 200), ok->load());
}

// ---- outlier detection ------------------------------------------------------------------------

// Counts requests and remembers when each arrived.
struct Arrivals {
    std::mutex mu;
    std::vector<Clock::time_point> times;
    void add() {
        std::lock_guard lock(mu);
        times.push_back(Clock::now());
    }
    std::vector<Clock::time_point> snapshot() {
        std::lock_guard lock(mu);
        return times;
    }
};

FakeBackend::Handler timed(int status, std::string body, std::shared_ptr<Arrivals> arrivals) {
    return [=](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            arrivals->add();
            if (!send_all(fd, http_response(status, body))) {
                return;
            }
        }
    };
}

long ms_between(Clock::time_point a, Clock::time_point b) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
}

TEST(ResilienceOutlier, EjectsAFailingEndpointWithGrowingBackoff) {
    auto good_arrivals = std::make_shared<Arrivals>();
    auto bad_arrivals = std::make_shared<Arrivals>();
    FakeBackend good(timed(200, "good", good_arrivals));
    FakeBackend bad(timed(500, "bad", bad_arrivals));
    UsherProcess usher(config({quoted(good), quoted(bad)},
                              "    outlier_detection: {consecutive_failures: 3, "
                              "base_ejection_time: 1s}\n",
                              route(""), 2));
    ASSERT_TRUE(usher.started()) << usher.log();
    // A steady client until the bad endpoint was ejected twice and came back after each.
    auto deadline = Clock::now() + 10s;
    int requests = 0;
    while (bad_arrivals->snapshot().size() < 7 && Clock::now() < deadline) {
        auto r = curl_request(usher.url("/o"));
        EXPECT_TRUE(r.status == 200 || r.status == 500) << r.status;
        ++requests;
        std::this_thread::sleep_for(10ms);
    }
    auto bad_times = bad_arrivals->snapshot();
    ASSERT_GE(bad_times.size(), 7u) << usher.log();
    // Requests 1-3 eject it for 1 s; 4-6 (after it is back) for 2 s.
    auto first_gap = ms_between(bad_times[2], bad_times[3]);
    auto second_gap = ms_between(bad_times[5], bad_times[6]);
    std::printf("outlier: %d requests; bad endpoint out for %ld ms, then %ld ms\n", requests,
                first_gap, second_gap);
    EXPECT_GE(first_gap, 990) << "traffic reached the endpoint during its first ejection";
    EXPECT_LT(first_gap, 1900) << "the endpoint did not get traffic again after 1 s";
    EXPECT_GE(second_gap, 1990) << "the second ejection did not back off";
    EXPECT_LT(second_gap, 2900);
    // Between the ejections only the good endpoint answered, and it did.
    auto good_times = good_arrivals->snapshot();
    auto during = std::count_if(good_times.begin(), good_times.end(),
                                [&](auto t) { return t > bad_times[2] && t < bad_times[3]; });
    EXPECT_GT(during, 10);
    auto log = usher.log();
    EXPECT_NE(log.find("ejected for 1000ms"), std::string::npos) << log;
    EXPECT_NE(log.find("ejected for 2000ms"), std::string::npos) << log;
}

TEST(ResilienceOutlier, MaxEjectedPercentKeepsOneEndpointIn) {
    auto a_arrivals = std::make_shared<Arrivals>();
    auto b_arrivals = std::make_shared<Arrivals>();
    FakeBackend a(timed(500, "A", a_arrivals));
    FakeBackend b(timed(500, "B", b_arrivals));
    // panic: fail makes "every endpoint ejected" visible as usher's own 503.
    UsherProcess usher(config({quoted(a), quoted(b)},
                              "    outlier_detection: {consecutive_failures: 3, "
                              "base_ejection_time: 1s, max_ejected_percent: 50}\n"
                              "    panic: fail\n",
                              route("")));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto end = Clock::now() + 1500ms;
    int requests = 0;
    while (Clock::now() < end) {
        auto r = curl_request(usher.url("/o"));
        ++requests;
        EXPECT_EQ(r.status, 500) << "request " << requests << ": " << r.body;
        EXPECT_TRUE(r.body == "A" || r.body == "B") << r.body;
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_GE(occurrences(usher.log(), "ejected for"), 1) << usher.log();
    EXPECT_EQ(static_cast<int>(a_arrivals->snapshot().size() + b_arrivals->snapshot().size()),
              requests);
}

// ---- panic mode -------------------------------------------------------------------------------

// /health answers 503; anything else 200 `name` (counted).
FakeBackend::Handler sick(std::string name, std::shared_ptr<std::atomic<int>> served) {
    return [=](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            bool check = req->start_line.find(" /health ") != std::string::npos;
            if (!check) {
                ++*served;
            }
            if (!send_all(fd, check ? http_response(503, "down") : http_response(200, name))) {
                return;
            }
        }
    };
}

const char* kSickCheck =
    "    health_check: {path: /health, interval: 100ms, jitter: 0, timeout: 500ms, "
    "unhealthy_threshold: 1}\n";

TEST(ResiliencePanic, FailAnswers503WhenNoEndpointIsHealthy) {
    auto served = std::make_shared<std::atomic<int>>(0);
    FakeBackend a(sick("A", served));
    FakeBackend b(sick("B", served));
    UsherProcess usher(
        config({quoted(a), quoted(b)}, std::string(kSickCheck) + "    panic: fail\n", route("")));
    ASSERT_TRUE(usher.started()) << usher.log();
    ASSERT_TRUE(wait_for_log(usher, "is unhealthy", 2, 5s)) << usher.log();
    for (int i = 0; i < 5; ++i) {
        auto r = curl_request(usher.url("/p"));
        EXPECT_EQ(r.status, 503) << r.body;
        EXPECT_LT(r.total_time, 0.5);
    }
    EXPECT_EQ(served->load(), 0) << "a request reached an unhealthy endpoint";
}

TEST(ResiliencePanic, SpreadStillReachesTheBackends) {
    auto served = std::make_shared<std::atomic<int>>(0);
    FakeBackend a(sick("A", served));
    FakeBackend b(sick("B", served));
    UsherProcess usher(config({quoted(a), quoted(b)}, kSickCheck, route("")));
    ASSERT_TRUE(usher.started()) << usher.log();
    ASSERT_TRUE(wait_for_log(usher, "is unhealthy", 2, 5s)) << usher.log();
    int a_hits = 0, b_hits = 0;
    for (int i = 0; i < 10; ++i) {
        auto r = curl_request(usher.url("/p"));
        EXPECT_EQ(r.status, 200) << r.body;
        a_hits += r.body == "A" ? 1 : 0;
        b_hits += r.body == "B" ? 1 : 0;
    }
    EXPECT_EQ(served->load(), 10);
    EXPECT_GT(a_hits, 0);
    EXPECT_GT(b_hits, 0);
}

// ---- circuit breaker --------------------------------------------------------------------------

TEST(ResilienceCircuitBreaker, MaxRequestsGivesFast503sWithTheCause) {
    auto in_flight = std::make_shared<std::atomic<int>>(0);
    auto peak = std::make_shared<std::atomic<int>>(0);
    auto served = std::make_shared<std::atomic<int>>(0);
    FakeBackend slow([=](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf, 30s)) {
            int now = ++*in_flight;
            int seen = peak->load();
            while (now > seen && !peak->compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(500ms);
            --*in_flight;
            ++*served;
            if (!send_all(fd, http_response(200, "slow"))) {
                return;
            }
        }
    });
    char tmpl[] = "/tmp/usher-cb-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string log_path = dir + "/access.log";
    UsherProcess usher(config({quoted(slow)}, "    circuit_breaker: {max_requests: 2}\n",
                              std::string("access_log: {path: \"") + log_path +
                                  "\", format: json}\n" + std::string(route("")),
                              2));
    ASSERT_TRUE(usher.started()) << usher.log();

    constexpr int kClients = 6;
    std::vector<CurlResult> results(kClients);
    std::atomic<bool> go{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            results[static_cast<std::size_t>(i)] = curl_request(usher.url("/c"));
        });
    }
    go = true;
    for (auto& t : clients) {
        t.join();
    }
    int ok = count_of(results, 200), refused = count_of(results, 503);
    EXPECT_EQ(ok + refused, kClients);
    EXPECT_GT(refused, 0) << "the breaker never opened";
    EXPECT_GE(ok, 2);
    EXPECT_LE(peak->load(), 2) << "more than max_requests reached the backend at once";
    for (const auto& r : results) {
        if (r.status == 503) {
            EXPECT_LT(r.total_time, 0.4) << "a refused request waited for the backend";
        }
    }
    EXPECT_EQ(served->load(), ok);
    EXPECT_EQ(usher.stop(), 0);  // flushes the access log
    auto log = read_file(log_path);
    EXPECT_EQ(occurrences(log, "\"cause\":\"circuit_open_requests\""), refused) << log;
    std::string cmd = std::string("rm -rf '") + dir + "'";
    [[maybe_unused]] int ignored = std::system(cmd.c_str());
}

// ---- drain ------------------------------------------------------------------------------------

TEST(ResilienceDrain, ADrainedEndpointGetsNoRequests) {
    auto a_count = std::make_shared<std::atomic<int>>(0);
    auto b_count = std::make_shared<std::atomic<int>>(0);
    FakeBackend a(counting(200, "A", a_count));
    FakeBackend b(counting(200, "B", b_count));
    UsherProcess usher(
        config({quoted(a), std::string("{address: \"") + b.address() + "\", drain: true}"}, "",
               route(""), 2));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (int i = 0; i < 20; ++i) {
        auto r = curl_request(usher.url("/d"));
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "A");
    }
    EXPECT_EQ(a_count->load(), 20);
    EXPECT_EQ(b_count->load(), 0);
    EXPECT_EQ(b.connections(), 0) << "usher connected to a drained endpoint";
}

}  // namespace
}  // namespace usher::test
