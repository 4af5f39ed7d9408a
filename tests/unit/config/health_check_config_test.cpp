// The clusters.<name>.health_check section of the config.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config/syntax.hpp"

namespace usher::config {
namespace {

using namespace std::chrono_literals;

LoadResult load(const std::string& cluster_extra) {
    return load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n"
        "    endpoints: [127.0.0.1:9001]\n" +
            cluster_extra,
        "usher.yaml");
}

TEST(HealthCheckConfig, AbsentMeansNoChecks) {
    auto r = load("");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r.config->clusters.at("api").health_check.has_value());
}

TEST(HealthCheckConfig, DefaultsComeFromLimits) {
    auto r = load("    health_check: {}\n");
    ASSERT_TRUE(r.ok()) << r.errors.at(0).to_string();
    const auto& h = *r.config->clusters.at("api").health_check;
    EXPECT_EQ(h.kind, HealthCheckKind::http);
    EXPECT_EQ(h.path, "/");
    EXPECT_EQ(h.interval, limits::kHealthInterval);
    EXPECT_EQ(h.timeout, limits::kHealthTimeout);
    EXPECT_EQ(h.unhealthy_threshold, limits::kUnhealthyThreshold);
    ASSERT_EQ(h.expected_statuses.size(), 1u);
    EXPECT_EQ(h.expected_statuses[0].low, 200);
    EXPECT_EQ(h.expected_statuses[0].high, 399);
}

TEST(HealthCheckConfig, ReadsEveryKey) {
    auto r = load(
        "    health_check:\n      type: http\n      path: /healthz\n      method: HEAD\n"
        "      host: api.internal\n      expected_statuses: [\"200\", \"300-302\"]\n"
        "      body_contains: ok\n      interval: 2s\n      jitter: 0\n"
        "      timeout: 500ms\n      healthy_threshold: 1\n      unhealthy_threshold: 4\n");
    ASSERT_TRUE(r.ok()) << r.errors.at(0).to_string();
    const auto& h = *r.config->clusters.at("api").health_check;
    EXPECT_EQ(h.path, "/healthz");
    EXPECT_EQ(h.method, "HEAD");
    EXPECT_EQ(h.host, "api.internal");
    ASSERT_EQ(h.expected_statuses.size(), 2u);
    EXPECT_EQ(h.expected_statuses[1].low, 300);
    EXPECT_EQ(h.expected_statuses[1].high, 302);
    EXPECT_EQ(h.body_contains, "ok");
    EXPECT_EQ(h.interval, 2s);
    EXPECT_EQ(h.jitter, 0ms);
    EXPECT_EQ(h.timeout, 500ms);
    EXPECT_EQ(h.healthy_threshold, 1u);
    EXPECT_EQ(h.unhealthy_threshold, 4u);
}

TEST(HealthCheckConfig, ReportsBadValuesWithPositions) {
    auto r = load(
        "    health_check:\n      type: grpc\n      path: healthz\n"
        "      expected_statuses: [\"2xx\"]\n      intervall: 1s\n");
    std::vector<std::string> errors;
    for (const auto& e : r.errors) {
        errors.push_back(e.to_string());
    }
    ASSERT_EQ(errors.size(), 4u) << ::testing::PrintToString(errors);
    EXPECT_EQ(errors[0],
              "usher.yaml:7:13: clusters.api.health_check.type: unknown value \"grpc\" (expected "
              "one of: http, tcp)");
    EXPECT_NE(errors[1].find("usher.yaml:8:13: clusters.api.health_check.path:"), std::string::npos)
        << errors[1];
    EXPECT_NE(errors[2].find("invalid status range \"2xx\""), std::string::npos) << errors[2];
    EXPECT_NE(errors[3].find("did you mean 'interval'?"), std::string::npos) << errors[3];
}

TEST(StatusRange, ParsesSingleStatusesAndRanges) {
    std::string why;
    auto one = parse_status_range("204", &why);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->low, 204);
    EXPECT_EQ(one->high, 204);
    auto range = parse_status_range("200-399", &why);
    ASSERT_TRUE(range);
    EXPECT_EQ(range->high, 399);
    EXPECT_FALSE(parse_status_range("399-200", &why));
    EXPECT_FALSE(parse_status_range("600", &why));
    EXPECT_FALSE(parse_status_range("20", &why));
    EXPECT_FALSE(parse_status_range("", &why));
}

}  // namespace
}  // namespace usher::config
