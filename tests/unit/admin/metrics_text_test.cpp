// The Prometheus exposition: every sample belongs to a family announced with HELP and TYPE,
// label values are escaped, histograms are cumulative and end with +Inf, _sum and _count.
#include "admin/metrics_text.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "config/loader.hpp"
#include "server/snapshot_builder.hpp"

namespace usher::admin {
namespace {

TEST(MetricsText, EverySampleHasAFamilyAndHistogramsAreCumulative) {
    auto loaded = config::load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  app:\n    endpoints: "
        "[\"127.0.0.1:9000\"]\n",
        "usher.yaml");
    ASSERT_TRUE(loaded.ok());
    AdminState state("usher.yaml", 1);
    state.set_config(server::build_snapshot(loaded.config, 1), {}, "h");
    proxy::ListenerInfo l;
    l.name = "we\"ird\\name";
    proxy::AccessEntry e;
    e.route = "default";
    e.cluster = "app";
    e.status = 200;
    e.total_s = 0.004;
    state.worker_metrics(0).on_request(l, e);
    e.total_s = 3;
    state.worker_metrics(0).on_request(l, e);
    const auto view = state.view();
    const auto text = render_metrics(state, view, state.collect_metrics());

    std::set<std::string> families;
    std::istringstream in(text);
    std::string line;
    std::vector<std::uint64_t> buckets;
    while (std::getline(in, line)) {
        if (line.rfind("# TYPE ", 0) == 0) {
            families.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.rfind("#", 0) == 0) {
            continue;
        }
        std::string name = line.substr(0, line.find_first_of("{ "));
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string s(suffix);
            if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                families.count(name.substr(0, name.size() - s.size())) != 0) {
                name = name.substr(0, name.size() - s.size());
            }
        }
        EXPECT_EQ(families.count(name), 1u) << "no TYPE before: " << line;
        if (line.rfind("usher_request_duration_seconds_bucket", 0) == 0) {
            buckets.push_back(std::stoull(line.substr(line.rfind(' ') + 1)));
        }
    }
    ASSERT_EQ(buckets.size(), kLatencyBuckets.size() + 1);
    for (std::size_t i = 1; i < buckets.size(); ++i) {
        EXPECT_GE(buckets[i], buckets[i - 1]) << "cumulative";
    }
    EXPECT_EQ(buckets.back(), 2u);
    EXPECT_NE(text.find("usher_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("usher_request_duration_seconds_bucket{le=\"0.005\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("listener=\"we\\\"ird\\\\name\""), std::string::npos) << text;
    EXPECT_NE(text.find("usher_endpoint_state{cluster=\"app\",endpoint=\"127.0.0.1:9000\","
                        "state=\"healthy\"} 1"),
              std::string::npos);
    EXPECT_NE(text.find("usher_circuit_breaker_trips_total{cluster=\"app\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace usher::admin
