// build_snapshot on reload: unchanged clusters are taken over as they run (same health, breaker),
// changed ones keep the health of the endpoints they still have, and nothing shared is touched
// while building (endpoints to drain are only listed).
#include "server/snapshot_builder.hpp"

#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace usher::server {
namespace {

config::ConfigPtr load(const std::string& clusters) {
    auto r = config::load_string("listeners:\n  - address: 127.0.0.1:8080\nclusters:\n" + clusters +
                                     "routes:\n  - cluster: a\n",
                                 "usher.yaml");
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
    return r.config;
}

ClusterReuse reuse_of(const config::ConfigPtr& cfg, const proxy::Snapshot& snap) {
    ClusterReuse reuse;
    reuse.old_config = cfg.get();
    for (const auto& [name, shared] : snap.clusters) {
        reuse.current[name] = std::make_shared<const upstream::SharedCluster>(shared);
    }
    return reuse;
}

TEST(SnapshotBuilder, UnchangedClustersKeepHealthAndBreakerChangedOnesKeepTheirEndpoints) {
    const auto before = load(
        "  a:\n    endpoints: [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]\n"
        "  b:\n    endpoints: [\"127.0.0.1:9101\"]\n"
        "  gone:\n    endpoints: [\"127.0.0.1:9201\"]\n");
    const auto snap1 = build_snapshot(before, 2);
    const auto after = load(
        "  a:\n    endpoints: [\"127.0.0.1:9002\", \"127.0.0.1:9003\"]\n"  // 9001 out, 9003 in
        "  b:\n    endpoints: [\"127.0.0.1:9101\"]\n"                      // unchanged
        "  new:\n    endpoints: [\"127.0.0.1:9301\"]\n");
    const auto reuse = reuse_of(before, *snap1);
    SnapshotChanges changes;
    const auto snap2 = build_snapshot(after, 2, &reuse, &changes);

    EXPECT_EQ(changes.rebuilt, (std::set<std::string>{"a", "new"}));
    // b: the very same endpoint health and breaker counters.
    EXPECT_EQ(snap2->clusters.at("b").endpoints[0].health,
              snap1->clusters.at("b").endpoints[0].health);
    EXPECT_EQ(snap2->clusters.at("b").circuit, snap1->clusters.at("b").circuit);
    // a: 9002 kept its health; 9003 is new (in slow start: marked ready); 9001 is to drain.
    const auto& a1 = snap1->clusters.at("a").endpoints;
    const auto& a2 = snap2->clusters.at("a").endpoints;
    ASSERT_EQ(a2.size(), 2u);
    EXPECT_EQ(a2[0].label, "127.0.0.1:9002");
    EXPECT_EQ(a2[0].health, a1[1].health);
    EXPECT_EQ(a2[1].label, "127.0.0.1:9003");
    EXPECT_NE(a2[1].health->ready_since_ns.load(), 0);
    ASSERT_EQ(changes.drain.size(), 1u);
    EXPECT_EQ(changes.drain[0], a1[0].health);
    EXPECT_FALSE(a1[0].health->is_draining()) << "not touched before the reload commits";
    EXPECT_NE(snap2->clusters.at("a").circuit, snap1->clusters.at("a").circuit);
    EXPECT_EQ(snap2->clusters.count("gone"), 0u);
}

TEST(SnapshotBuilder, AnEndpointNowConfiguredDrainedIsListedToDrain) {
    const auto before = load("  a:\n    endpoints: [\"127.0.0.1:9001\"]\n");
    const auto snap1 = build_snapshot(before, 1);
    const auto after =
        load("  a:\n    endpoints:\n      - {address: \"127.0.0.1:9001\", drain: true}\n");
    const auto reuse = reuse_of(before, *snap1);
    SnapshotChanges changes;
    const auto snap2 = build_snapshot(after, 1, &reuse, &changes);
    ASSERT_EQ(changes.drain.size(), 1u);
    EXPECT_EQ(changes.drain[0], snap1->clusters.at("a").endpoints[0].health);
    EXPECT_EQ(snap2->clusters.at("a").endpoints[0].health, changes.drain[0]);
}

}  // namespace
}  // namespace usher::server
