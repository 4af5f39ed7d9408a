// The resilience keys of the config (issue 4): a cluster's outlier_detection, panic, slow_start,
// circuit_breaker, retry_budget, resolve_interval and endpoint drain; a route's retry.
#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace usher::config {
namespace {

using namespace std::chrono_literals;
using Errors = std::vector<std::string>;

// `extra` goes under the cluster "api", from line 6 on, indented by four spaces.
LoadResult load_cluster(const std::string& extra) {
    return load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n"
        "    endpoints: [127.0.0.1:9001]\n" +
            extra,
        "usher.yaml");
}

// The route's retry value starts on line 9, column 12 ("    retry: " is 11 characters).
LoadResult load_retry(const std::string& retry) {
    return load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n"
        "    endpoints: [127.0.0.1:9001]\nroutes:\n  - match: {path: /api}\n    cluster: api\n"
        "    retry: " +
            retry + "\n",
        "usher.yaml");
}

Errors errors_of(const LoadResult& r) {
    Errors out;
    for (const auto& d : r.errors) {
        out.push_back(d.to_string());
    }
    return out;
}

std::string first_error(const LoadResult& r) {
    return r.errors.empty() ? "" : r.errors.front().to_string();
}

const Cluster& api(const LoadResult& r) {
    return r.config->clusters.at("api");
}

const RetryPolicy& retry(const LoadResult& r) {
    return *r.config->routes.at(0).retry;
}

// ---- Clusters ----------------------------------------------------------------------------------

TEST(ResilienceConfig, ClusterDefaultsWhenAbsent) {
    auto r = load_cluster("");
    ASSERT_TRUE(r.ok()) << first_error(r);
    const Cluster& c = api(r);
    EXPECT_FALSE(c.outlier_detection.has_value());
    EXPECT_EQ(c.panic, PanicMode::spread);
    EXPECT_EQ(c.slow_start, 0ms);
    EXPECT_EQ(c.circuit_breaker.max_connections, 0u);
    EXPECT_EQ(c.circuit_breaker.max_pending, 0u);
    EXPECT_EQ(c.circuit_breaker.max_requests, 0u);
    EXPECT_EQ(c.circuit_breaker.max_retries, 0u);
    EXPECT_EQ(c.retry_budget.percent, 20u);
    EXPECT_EQ(c.retry_budget.min_retries, 3u);
    EXPECT_EQ(c.resolve_interval, 30s);
    EXPECT_FALSE(c.endpoints.at(0).drain);
}

TEST(ResilienceConfig, ReadsEveryClusterKey) {
    auto r = load_cluster(
        "    panic: fail\n    slow_start: 45s\n    resolve_interval: 1m\n"
        "    outlier_detection:\n      consecutive_failures: 7\n      count_5xx: false\n"
        "      base_ejection_time: 10s\n      max_ejection_time: 2m\n"
        "      max_ejected_percent: 100\n"
        "    circuit_breaker:\n      max_connections: 1000\n      max_pending: 100\n"
        "      max_requests: 900\n      max_retries: 10\n"
        "    retry_budget:\n      percent: 0\n      min_retries: 100000\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    const Cluster& c = api(r);
    EXPECT_EQ(c.panic, PanicMode::fail);
    EXPECT_EQ(c.slow_start, 45s);
    EXPECT_EQ(c.resolve_interval, 60s);
    ASSERT_TRUE(c.outlier_detection.has_value());
    EXPECT_EQ(c.outlier_detection->consecutive_failures, 7u);
    EXPECT_FALSE(c.outlier_detection->count_5xx);
    EXPECT_EQ(c.outlier_detection->base_ejection_time, 10s);
    EXPECT_EQ(c.outlier_detection->max_ejection_time, 120s);
    EXPECT_EQ(c.outlier_detection->max_ejected_percent, 100u);
    EXPECT_EQ(c.circuit_breaker.max_connections, 1000u);
    EXPECT_EQ(c.circuit_breaker.max_pending, 100u);
    EXPECT_EQ(c.circuit_breaker.max_requests, 900u);
    EXPECT_EQ(c.circuit_breaker.max_retries, 10u);
    EXPECT_EQ(c.retry_budget.percent, 0u);
    EXPECT_EQ(c.retry_budget.min_retries, 100000u);
}

TEST(ResilienceConfig, PanicSpreadAndZeroSlowStartAreAccepted) {
    auto r = load_cluster("    panic: spread\n    slow_start: 0\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(api(r).panic, PanicMode::spread);
    EXPECT_EQ(api(r).slow_start, 0ms);
    r = load_cluster("    slow_start: 0s\n    resolve_interval: 1s\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(api(r).slow_start, 0ms);
    EXPECT_EQ(api(r).resolve_interval, 1s);
}

TEST(ResilienceConfig, EmptyOutlierDetectionEnablesItWithDefaults) {
    for (const std::string body : {"    outlier_detection: {}\n", "    outlier_detection:\n"}) {
        auto r = load_cluster(body);
        ASSERT_TRUE(r.ok()) << first_error(r);
        ASSERT_TRUE(api(r).outlier_detection.has_value()) << body;
        const OutlierDetection& o = *api(r).outlier_detection;
        EXPECT_EQ(o.consecutive_failures, 5u);
        EXPECT_TRUE(o.count_5xx);
        EXPECT_EQ(o.base_ejection_time, 30s);
        EXPECT_EQ(o.max_ejection_time, 300s);
        EXPECT_EQ(o.max_ejected_percent, 50u);
    }
}

TEST(ResilienceConfig, MaxEjectionTimeFollowsALongBaseWhenNotSet) {
    auto r = load_cluster("    outlier_detection: {base_ejection_time: 10m}\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(api(r).outlier_detection->base_ejection_time, 600s);
    EXPECT_EQ(api(r).outlier_detection->max_ejection_time, 600s);
    r = load_cluster("    outlier_detection: {base_ejection_time: 1s}\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(api(r).outlier_detection->max_ejection_time, 300s);  // the default cap stays
    r = load_cluster("    outlier_detection: {base_ejection_time: 5s, max_ejection_time: 5s}\n");
    ASSERT_TRUE(r.ok()) << first_error(r);  // equal is fine
}

TEST(ResilienceConfig, OutlierDetectionErrors) {
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {consecutive_failures: 0}\n")),
              Errors{"usher.yaml:6:47: clusters.api.outlier_detection.consecutive_failures: 0 is "
                     "out of range (1-1000)"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {consecutive_failures: 1001}\n")),
              Errors{"usher.yaml:6:47: clusters.api.outlier_detection.consecutive_failures: 1001 "
                     "is out of range (1-1000)"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {count_5xx: yes}\n")),
              Errors{"usher.yaml:6:36: clusters.api.outlier_detection.count_5xx: expected true or "
                     "false, got \"yes\""});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {base_ejection_time: 0}\n")),
              Errors{"usher.yaml:6:45: clusters.api.outlier_detection.base_ejection_time: must be "
                     "greater than 0"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {max_ejection_time: 0s}\n")),
              Errors{"usher.yaml:6:44: clusters.api.outlier_detection.max_ejection_time: must be "
                     "greater than 0"});
    EXPECT_EQ(
        errors_of(load_cluster("    outlier_detection:\n      base_ejection_time: 1m\n      "
                               "max_ejection_time: 30s\n")),
        Errors{"usher.yaml:8:26: clusters.api.outlier_detection.max_ejection_time: must be at "
               "least base_ejection_time (1m), got 30s"});
    // Against the default base (30s) when only the cap is set.
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {max_ejection_time: 10s}\n")),
              Errors{"usher.yaml:6:44: clusters.api.outlier_detection.max_ejection_time: must be "
                     "at least base_ejection_time (30s), got 10s"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {max_ejected_percent: 101}\n")),
              Errors{"usher.yaml:6:46: clusters.api.outlier_detection.max_ejected_percent: 101 is "
                     "out of range (0-100)"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: true\n")),
              Errors{"usher.yaml:6:24: clusters.api.outlier_detection: expected a mapping, got "
                     "\"true\""});
}

TEST(ResilienceConfig, ClusterScalarErrors) {
    EXPECT_EQ(errors_of(load_cluster("    panic: panik\n")),
              Errors{"usher.yaml:6:12: clusters.api.panic: unknown value \"panik\" (expected one "
                     "of: spread, fail)"});
    EXPECT_EQ(errors_of(load_cluster("    slow_start: fast\n")),
              Errors{"usher.yaml:6:17: clusters.api.slow_start: \"fast\" is not a duration "
                     "(expected e.g. 250ms, 30s, 5m)"});
    EXPECT_EQ(errors_of(load_cluster("    resolve_interval: 0\n")),
              Errors{"usher.yaml:6:23: clusters.api.resolve_interval: must be greater than 0"});
    EXPECT_EQ(errors_of(load_cluster("    resolve_interval: 500ms\n")),
              Errors{"usher.yaml:6:23: clusters.api.resolve_interval: must be at least 1s, got "
                     "500ms"});
}

TEST(ResilienceConfig, CircuitBreakerAndRetryBudgetErrors) {
    EXPECT_EQ(errors_of(load_cluster("    circuit_breaker: {max_connections: -1}\n")),
              Errors{"usher.yaml:6:40: clusters.api.circuit_breaker.max_connections: must not be "
                     "negative, got \"-1\""});
    EXPECT_EQ(errors_of(load_cluster("    circuit_breaker: {max_pending: many}\n")),
              Errors{"usher.yaml:6:36: clusters.api.circuit_breaker.max_pending: expected a whole "
                     "number, got \"many\""});
    EXPECT_EQ(errors_of(load_cluster("    retry_budget: {percent: 101}\n")),
              Errors{"usher.yaml:6:29: clusters.api.retry_budget.percent: 101 is out of range "
                     "(0-100)"});
    EXPECT_EQ(errors_of(load_cluster("    retry_budget: {min_retries: 100001}\n")),
              Errors{"usher.yaml:6:33: clusters.api.retry_budget.min_retries: 100001 is out of "
                     "range (0-100000)"});
}

TEST(ResilienceConfig, UnknownKeysSuggestTheClosest) {
    EXPECT_EQ(errors_of(load_cluster("    outlier_detecton: {}\n")),
              Errors{"usher.yaml:6:5: clusters.api.outlier_detecton: unknown key "
                     "\"outlier_detecton\" (did you mean 'outlier_detection'?)"});
    EXPECT_EQ(errors_of(load_cluster("    outlier_detection: {consecutive_failure: 3}\n")),
              Errors{"usher.yaml:6:25: clusters.api.outlier_detection.consecutive_failure: unknown "
                     "key \"consecutive_failure\" (did you mean 'consecutive_failures'?)"});
    EXPECT_EQ(errors_of(load_cluster("    circuit_breaker: {max_conections: 3}\n")),
              Errors{"usher.yaml:6:23: clusters.api.circuit_breaker.max_conections: unknown key "
                     "\"max_conections\" (did you mean 'max_connections'?)"});
    EXPECT_EQ(errors_of(load_cluster("    retry_budget: {min_retry: 3}\n")),
              Errors{"usher.yaml:6:20: clusters.api.retry_budget.min_retry: unknown key "
                     "\"min_retry\" (expected one of: percent, min_retries)"});
    EXPECT_EQ(errors_of(load_cluster("    slowstart: 10s\n")),
              Errors{"usher.yaml:6:5: clusters.api.slowstart: unknown key \"slowstart\" (did you "
                     "mean 'slow_start'?)"});
}

// ---- Endpoints ---------------------------------------------------------------------------------

LoadResult load_endpoints(const std::string& endpoints) {
    return load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n    endpoints:\n" + endpoints,
        "usher.yaml");
}

TEST(ResilienceConfig, EndpointDrain) {
    auto r = load_endpoints(
        "      - 127.0.0.1:9001\n"
        "      - {address: 127.0.0.1:9002, weight: 2, drain: true}\n"
        "      - {address: 127.0.0.1:9003, drain: false}\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    ASSERT_EQ(api(r).endpoints.size(), 3u);
    EXPECT_FALSE(api(r).endpoints[0].drain);
    EXPECT_TRUE(api(r).endpoints[1].drain);
    EXPECT_EQ(api(r).endpoints[1].weight, 2u);
    EXPECT_FALSE(api(r).endpoints[2].drain);
    EXPECT_EQ(errors_of(load_endpoints("      - {address: 127.0.0.1:9002, drain: 1}\n")),
              Errors{"usher.yaml:6:42: clusters.api.endpoints[0].drain: expected true or false, "
                     "got \"1\""});
    EXPECT_EQ(errors_of(load_endpoints("      - {address: 127.0.0.1:9002, drian: true}\n")),
              Errors{"usher.yaml:6:35: clusters.api.endpoints[0].drian: unknown key \"drian\" "
                     "(did you mean 'drain'?)"});
    EXPECT_EQ(errors_of(load_endpoints("      - [127.0.0.1:9002]\n")),
              Errors{"usher.yaml:6:9: clusters.api.endpoints[0]: expected \"host:port\" or a "
                     "mapping with address, weight and drain"});
}

// ---- Route retry -------------------------------------------------------------------------------

TEST(ResilienceConfig, NoRetryPolicyWhenAbsent) {
    auto r = load_cluster("");
    ASSERT_TRUE(r.ok()) << first_error(r);
    ASSERT_EQ(r.config->routes.size(), 1u);  // the implicit default route
    EXPECT_FALSE(r.config->routes[0].retry.has_value());
}

TEST(ResilienceConfig, EmptyRetryEnablesTheDefaults) {
    for (const std::string value : {"{}", ""}) {
        auto r = load_retry(value);
        ASSERT_TRUE(r.ok()) << first_error(r);
        ASSERT_TRUE(r.config->routes[0].retry.has_value()) << "retry: " << value;
        const RetryPolicy& p = retry(r);
        EXPECT_EQ(p.retries, 2u);
        EXPECT_TRUE(p.on_connect_failure);
        EXPECT_TRUE(p.on_reset);
        EXPECT_TRUE(p.on_timeout);
        EXPECT_FALSE(p.on_5xx);
        EXPECT_TRUE(p.on_statuses.empty());
        EXPECT_FALSE(p.non_idempotent);
        EXPECT_EQ(p.per_try_timeout, 0ms);
        EXPECT_EQ(p.backoff, 25ms);
        EXPECT_EQ(p.max_backoff, 250ms);
        EXPECT_EQ(p.max_body, 64u * 1024u);
    }
}

TEST(ResilienceConfig, RetryShorthandIsTheNumberOfRetries) {
    auto r = load_retry("3");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).retries, 3u);
    EXPECT_TRUE(retry(r).on_connect_failure);
    EXPECT_EQ(retry(r).backoff, 25ms);
    r = load_retry("0");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).retries, 0u);
    EXPECT_EQ(errors_of(load_retry("11")),
              Errors{"usher.yaml:9:12: routes[0].retry: 11 is out of range (0-10)"});
    EXPECT_EQ(errors_of(load_retry("-1")),
              Errors{"usher.yaml:9:12: routes[0].retry: must not be negative, got \"-1\""});
    EXPECT_EQ(errors_of(load_retry("yes")),
              Errors{"usher.yaml:9:12: routes[0].retry: expected a number of retries or a "
                     "mapping, got \"yes\""});
    EXPECT_EQ(errors_of(load_retry("[3]")),
              Errors{"usher.yaml:9:12: routes[0].retry: expected a number of retries or a "
                     "mapping, got a list"});
}

TEST(ResilienceConfig, ReadsEveryRetryKey) {
    auto r = load_retry(
        "\n      retries: 4\n      on: [connect_failure, reset, timeout, 5xx, 503]\n"
        "      non_idempotent: true\n      per_try_timeout: 2s\n      backoff: 10ms\n"
        "      max_backoff: 1s\n      max_body: 1MiB\n");
    ASSERT_TRUE(r.ok()) << first_error(r);
    const RetryPolicy& p = retry(r);
    EXPECT_EQ(p.retries, 4u);
    EXPECT_TRUE(p.on_connect_failure);
    EXPECT_TRUE(p.on_reset);
    EXPECT_TRUE(p.on_timeout);
    EXPECT_TRUE(p.on_5xx);
    EXPECT_EQ(p.on_statuses, (std::vector<std::uint16_t>{503}));
    EXPECT_TRUE(p.non_idempotent);
    EXPECT_EQ(p.per_try_timeout, 2s);
    EXPECT_EQ(p.backoff, 10ms);
    EXPECT_EQ(p.max_backoff, 1s);
    EXPECT_EQ(p.max_body, 1024u * 1024u);
}

TEST(ResilienceConfig, RetryOnReplacesTheDefaultConditions) {
    auto r = load_retry("{on: [5xx]}");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_FALSE(retry(r).on_connect_failure);
    EXPECT_FALSE(retry(r).on_reset);
    EXPECT_FALSE(retry(r).on_timeout);
    EXPECT_TRUE(retry(r).on_5xx);
    EXPECT_TRUE(retry(r).on_statuses.empty());
    r = load_retry("{on: 429}");  // one condition needs no list
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_FALSE(retry(r).on_connect_failure);
    EXPECT_EQ(retry(r).on_statuses, (std::vector<std::uint16_t>{429}));
}

TEST(ResilienceConfig, GatewayErrorAddsItsStatusesOnce) {
    auto r = load_retry("{on: [504, gateway_error, reset, 503, 400, 599]}");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).on_statuses, (std::vector<std::uint16_t>{400, 502, 503, 504, 599}));
    EXPECT_TRUE(retry(r).on_reset);
    EXPECT_FALSE(retry(r).on_connect_failure);
    EXPECT_FALSE(retry(r).on_5xx);
}

TEST(ResilienceConfig, BackoffAloneSetsTheCapToTenTimesIt) {
    auto r = load_retry("{backoff: 100ms}");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).backoff, 100ms);
    EXPECT_EQ(retry(r).max_backoff, 1s);
    r = load_retry("{backoff: 0, max_backoff: 0, max_body: 0}");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).backoff, 0ms);
    EXPECT_EQ(retry(r).max_backoff, 0ms);
    EXPECT_EQ(retry(r).max_body, 0u);
    r = load_retry("{backoff: 0}");
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).max_backoff, 0ms);
    r = load_retry("{max_backoff: 25ms}");  // equal to the default backoff
    ASSERT_TRUE(r.ok()) << first_error(r);
    EXPECT_EQ(retry(r).max_backoff, 25ms);
}

TEST(ResilienceConfig, RetryErrors) {
    EXPECT_EQ(errors_of(load_retry("{retries: 11}")),
              Errors{"usher.yaml:9:22: routes[0].retry.retries: 11 is out of range (0-10)"});
    EXPECT_EQ(errors_of(load_retry("{on: [connect_failure, rest]}")),
              Errors{"usher.yaml:9:35: routes[0].retry.on[1]: unknown retry condition \"rest\" "
                     "(did you mean 'reset'?)"});
    EXPECT_EQ(errors_of(load_retry("{on: [everything]}")),
              Errors{"usher.yaml:9:18: routes[0].retry.on[0]: unknown retry condition "
                     "\"everything\" (expected connect_failure, reset, timeout, 5xx, gateway_error "
                     "or a status 400-599)"});
    EXPECT_EQ(errors_of(load_retry("{on: [600]}")),
              Errors{"usher.yaml:9:18: routes[0].retry.on[0]: 600 is out of range (400-599)"});
    EXPECT_EQ(errors_of(load_retry("{on: [302]}")),
              Errors{"usher.yaml:9:18: routes[0].retry.on[0]: 302 is out of range (400-599)"});
    EXPECT_EQ(errors_of(load_retry("{on: []}")),
              Errors{"usher.yaml:9:17: routes[0].retry.on: empty list: nothing would be retried "
                     "(leave out retry instead)"});
    EXPECT_EQ(errors_of(load_retry("{on: [{a: 1}]}")),
              Errors{"usher.yaml:9:18: routes[0].retry.on[0]: expected a list of strings, got a "
                     "mapping in it"});
    EXPECT_EQ(errors_of(load_retry("{non_idempotent: maybe}")),
              Errors{"usher.yaml:9:29: routes[0].retry.non_idempotent: expected true or false, "
                     "got \"maybe\""});
    EXPECT_EQ(errors_of(load_retry("{per_try_timeout: 0}")),
              Errors{"usher.yaml:9:30: routes[0].retry.per_try_timeout: must be greater than 0"});
    EXPECT_EQ(errors_of(load_retry("{backoff: 100ms, max_backoff: 50ms}")),
              Errors{"usher.yaml:9:42: routes[0].retry.max_backoff: must be at least backoff "
                     "(100ms), got 50ms"});
    EXPECT_EQ(errors_of(load_retry("{max_backoff: 10ms}")),
              Errors{"usher.yaml:9:26: routes[0].retry.max_backoff: must be at least backoff "
                     "(25ms), got 10ms"});
    EXPECT_EQ(errors_of(load_retry("{max_body: 10K}")),
              Errors{"usher.yaml:9:23: routes[0].retry.max_body: ambiguous unit \"K\" (write KiB "
                     "for powers of 1024 or KB for powers of 1000)"});
    EXPECT_EQ(errors_of(load_retry("{retires: 3}")),
              Errors{"usher.yaml:9:13: routes[0].retry.retires: unknown key \"retires\" (did you "
                     "mean 'retries'?)"});
}

TEST(ResilienceConfig, RetryNeedsAClusterAction) {
    const auto with_action = [](const std::string& action) {
        return load_string(
            "listeners: [{address: 127.0.0.1:8080}]\nclusters: {api: {endpoints: [h:1]}}\n"
            "routes:\n  - " +
                action + "\n    retry: 2\n",
            "usher.yaml");
    };
    EXPECT_EQ(errors_of(with_action("redirect: {to: /x}")),
              Errors{"usher.yaml:5:12: routes[0].retry: retry needs a cluster action"});
    EXPECT_EQ(errors_of(with_action("respond: {status: 204}")),
              Errors{"usher.yaml:5:12: routes[0].retry: retry needs a cluster action"});
    EXPECT_TRUE(with_action("cluster: api").ok());
}

TEST(ResilienceConfig, RouteKeyTypoSuggestsRetry) {
    EXPECT_EQ(errors_of(load_string(
                  "listeners: [{address: 127.0.0.1:8080}]\nclusters: {api: {endpoints: [h:1]}}\n"
                  "routes:\n  - cluster: api\n    rety: 2\n",
                  "usher.yaml")),
              Errors{"usher.yaml:5:5: routes[0].rety: unknown key \"rety\" (did you mean "
                     "'retry'?)"});
}

}  // namespace
}  // namespace usher::config
