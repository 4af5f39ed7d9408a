// WorkerMetrics: counters by label set, histograms and their quantiles, sums over workers.
#include "admin/worker_metrics.hpp"

#include <gtest/gtest.h>

#include "proxy/worker_context.hpp"

namespace usher::admin {
namespace {

proxy::AccessEntry entry(std::uint16_t status, std::string_view route, double total_s,
                         double first_byte_s = -1) {
    proxy::AccessEntry e;
    e.status = status;
    e.route = route;
    e.cluster = route.empty() ? "" : "app";
    e.bytes_in = 10;
    e.bytes_out = 100;
    e.total_s = total_s;
    e.first_byte_s = first_byte_s;
    return e;
}

TEST(WorkerMetrics, CountsRequestsByLabelsAndStatusClass) {
    proxy::ListenerInfo web;
    web.name = "web";
    WorkerMetrics m;
    m.on_request(web, entry(200, "api", 0.001));
    m.on_request(web, entry(204, "api", 0.001));
    m.on_request(web, entry(503, "api", 0.001));
    m.on_request(web, entry(404, "", 0.001));
    m.on_request(web, entry(0, "api", 0.001));  // no response sent
    const auto t = m.collect();
    ASSERT_EQ(t.requests.size(), 2u);
    const auto& api = t.requests.at({"web", "api", "app"});
    EXPECT_EQ(api[2], 2u);
    EXPECT_EQ(api[5], 1u);
    EXPECT_EQ(api[0], 1u);
    EXPECT_EQ(t.requests.at({"web", "", ""})[4], 1u);
    EXPECT_EQ(t.listeners.at("web").bytes_in, 50u);
    EXPECT_EQ(t.listeners.at("web").bytes_out, 500u);
    EXPECT_EQ(t.request_duration.count, 5u);
}

TEST(WorkerMetrics, CountsConnectionsHandshakesAndPoolUse) {
    proxy::ListenerInfo web;
    web.name = "web";
    WorkerMetrics m;
    m.on_connection_open(web);
    m.on_connection_open(web);
    m.on_connection_close(web);
    m.on_tls_handshake(web, true);
    m.on_tls_handshake(web, false);
    m.on_tls_handshake(web, false);
    m.on_upstream_connection("app", true);
    m.on_upstream_connection("app", false);
    m.on_upstream_connection("app", true);
    const auto t = m.collect();
    const auto& l = t.listeners.at("web");
    EXPECT_EQ(l.opened, 2u);
    EXPECT_EQ(l.closed, 1u);
    EXPECT_EQ(l.tls_ok, 1u);
    EXPECT_EQ(l.tls_failed, 2u);
    EXPECT_EQ(t.upstream.at("app").reused, 2u);
    EXPECT_EQ(t.upstream.at("app").opened, 1u);
}

TEST(WorkerMetrics, HistogramsBucketAndQuantiles) {
    proxy::ListenerInfo web;
    web.name = "web";
    WorkerMetrics m;
    for (int i = 0; i < 90; ++i) {
        m.on_request(web, entry(200, "api", 0.003, 0.002));  // bucket (0.0025, 0.005]
    }
    for (int i = 0; i < 10; ++i) {
        m.on_request(web, entry(200, "api", 0.7));  // bucket (0.5, 1], no upstream byte
    }
    const auto t = m.collect();
    EXPECT_EQ(t.request_duration.count, 100u);
    EXPECT_EQ(t.upstream_first_byte.count, 90u);
    EXPECT_EQ(t.request_duration.buckets[3], 90u);   // le 0.005
    EXPECT_EQ(t.request_duration.buckets[10], 10u);  // le 1
    EXPECT_NEAR(t.request_duration.sum_s, 90 * 0.003 + 10 * 0.7, 1e-3);
    const double p50 = t.request_duration.quantile(0.5);
    EXPECT_GT(p50, 0.0025);
    EXPECT_LE(p50, 0.005);
    const double p99 = t.request_duration.quantile(0.99);
    EXPECT_GT(p99, 0.5);
    EXPECT_LE(p99, 1.0);
    EXPECT_EQ(HistogramTotals{}.quantile(0.5), 0.0);
}

TEST(WorkerMetrics, TotalsAddUpOverWorkers) {
    proxy::ListenerInfo web;
    web.name = "web";
    WorkerMetrics w0, w1;
    w0.on_request(web, entry(200, "api", 0.01));
    w1.on_request(web, entry(200, "api", 0.01));
    w1.on_request(web, entry(500, "api", 0.01));
    w1.on_connection_open(web);
    MetricsTotals total;
    total.add(w0.collect());
    total.add(w1.collect());
    EXPECT_EQ(total.requests.at({"web", "api", "app"})[2], 2u);
    EXPECT_EQ(total.requests.at({"web", "api", "app"})[5], 1u);
    EXPECT_EQ(total.request_duration.count, 3u);
    EXPECT_EQ(total.listeners.at("web").opened, 1u);
}

}  // namespace
}  // namespace usher::admin
