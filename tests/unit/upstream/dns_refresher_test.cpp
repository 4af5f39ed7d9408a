#include "upstream/dns_refresher.hpp"

#include <gtest/gtest.h>

#include <map>

namespace usher::upstream {
namespace {

using namespace std::chrono_literals;

asio::ip::tcp::endpoint addr(const char* ip, std::uint16_t port = 8080) {
    return {asio::ip::make_address(ip), port};
}

SharedEndpoint shared(const std::string& label, const char* ip, std::uint32_t weight = 1) {
    SharedEndpoint se;
    se.label = label;
    se.address = addr(ip);
    se.weight = weight;
    se.health = std::make_shared<EndpointHealth>(2);
    return se;
}

// ---- diff_endpoints --------------------------------------------------------------------------

TEST(EndpointDiff, SameAddressesInAnotherOrderAreNoChange) {
    std::vector<SharedEndpoint> old{shared("db:8080", "10.0.0.1"), shared("db:8080", "10.0.0.2")};
    auto diff = diff_endpoints(
        old, {{"db:8080", addr("10.0.0.2"), 1, false}, {"db:8080", addr("10.0.0.1"), 1, false}}, 2);
    EXPECT_FALSE(diff.changed());
    ASSERT_EQ(diff.endpoints.size(), 2u);
    EXPECT_EQ(diff.endpoints[0].health, old[0].health);  // old order, same health objects
    EXPECT_EQ(diff.endpoints[1].health, old[1].health);
}

TEST(EndpointDiff, KeptShareHealthRemovedAreReportedAddedAreFresh) {
    std::vector<SharedEndpoint> old{shared("db:8080", "10.0.0.1", 3),
                                    shared("db:8080", "10.0.0.2", 3)};
    old[1].health->consecutive_failures.store(2);
    auto diff = diff_endpoints(
        old, {{"db:8080", addr("10.0.0.2"), 3, false}, {"db:8080", addr("10.0.0.3"), 3, false}}, 4);
    ASSERT_TRUE(diff.changed());
    ASSERT_EQ(diff.endpoints.size(), 2u);
    EXPECT_EQ(diff.endpoints[0].address, addr("10.0.0.2"));
    EXPECT_EQ(diff.endpoints[0].health, old[1].health);
    EXPECT_EQ(diff.endpoints[0].health->consecutive_failures.load(), 2u);
    EXPECT_EQ(diff.endpoints[1].address, addr("10.0.0.3"));
    EXPECT_EQ(diff.endpoints[1].weight, 3u);
    EXPECT_EQ(diff.endpoints[1].label, "db:8080");

    ASSERT_EQ(diff.added.size(), 1u);
    const auto& fresh = *diff.added[0].health;
    EXPECT_EQ(diff.added[0].health, diff.endpoints[1].health);
    EXPECT_NE(diff.added[0].health, old[0].health);
    EXPECT_EQ(fresh.worker_count, 4u);
    EXPECT_NE(fresh.ready_since_ns.load(), 0) << "slow start must apply to an added address";
    EXPECT_FALSE(fresh.is_draining());
    EXPECT_TRUE(fresh.is_healthy());

    ASSERT_EQ(diff.removed.size(), 1u);
    EXPECT_EQ(diff.removed[0].health, old[0].health);
    EXPECT_FALSE(old[0].health->is_draining()) << "the diff itself changes no shared state";
}

TEST(EndpointDiff, KeptKeepOldOrderAndAddedGoLastInResolvedOrder) {
    std::vector<SharedEndpoint> old{shared("a:8080", "10.0.0.1"), shared("a:8080", "10.0.0.2"),
                                    shared("b:8080", "10.0.1.1")};
    auto diff = diff_endpoints(old,
                               {{"b:8080", addr("10.0.1.1"), 1, false},
                                {"a:8080", addr("10.0.0.5"), 1, false},
                                {"a:8080", addr("10.0.0.4"), 1, false},
                                {"a:8080", addr("10.0.0.1"), 1, false}},
                               1);
    std::vector<std::string> got;
    for (const auto& e : diff.endpoints) {
        got.push_back(e.label + "=" + address_string(e.address));
    }
    EXPECT_EQ(got, (std::vector<std::string>{"a:8080=10.0.0.1:8080", "b:8080=10.0.1.1:8080",
                                             "a:8080=10.0.0.5:8080", "a:8080=10.0.0.4:8080"}));
    EXPECT_EQ(diff.removed.size(), 1u);
    EXPECT_EQ(diff.added.size(), 2u);
}

TEST(EndpointDiff, SameAddressUnderAnotherLabelIsADifferentEndpoint) {
    std::vector<SharedEndpoint> old{shared("a:8080", "10.0.0.1")};
    auto diff = diff_endpoints(old, {{"b:8080", addr("10.0.0.1"), 1, false}}, 1);
    EXPECT_EQ(diff.added.size(), 1u);
    EXPECT_EQ(diff.removed.size(), 1u);
}

TEST(EndpointDiff, AddedAddressOfADrainedEndpointStartsDrainingAndWeightsFollowConfig) {
    std::vector<SharedEndpoint> old{shared("a:8080", "10.0.0.1", 2)};
    auto diff = diff_endpoints(
        old, {{"a:8080", addr("10.0.0.1"), 5, true}, {"a:8080", addr("10.0.0.2"), 5, true}}, 1);
    ASSERT_EQ(diff.endpoints.size(), 2u);
    EXPECT_EQ(diff.endpoints[0].weight, 5u);
    EXPECT_FALSE(diff.endpoints[0].health->is_draining()) << "a kept endpoint keeps its state";
    EXPECT_TRUE(diff.endpoints[1].health->is_draining());
}

TEST(EndpointDiff, DuplicatesMatchAsAMultiset) {
    std::vector<SharedEndpoint> old{shared("a:8080", "10.0.0.1"), shared("a:8080", "10.0.0.1")};
    auto diff = diff_endpoints(old, {{"a:8080", addr("10.0.0.1"), 1, false}}, 1);
    ASSERT_EQ(diff.endpoints.size(), 1u);
    EXPECT_EQ(diff.endpoints[0].health, old[0].health);
    ASSERT_EQ(diff.removed.size(), 1u);
    EXPECT_EQ(diff.removed[0].health, old[1].health);
}

TEST(DnsRefresher, RecognisesIpLiterals) {
    EXPECT_TRUE(is_ip_literal("127.0.0.1"));
    EXPECT_TRUE(is_ip_literal("::1"));
    EXPECT_FALSE(is_ip_literal("localhost"));
    EXPECT_FALSE(is_ip_literal("10.0.0.1.example"));
    EXPECT_EQ(address_string(addr("::1")), "[::1]:8080");
}

// ---- DnsRefresher with an injected resolver ---------------------------------------------------

// A scripted resolver: host -> what the next resolutions return; counts calls.
struct FakeDns {
    std::map<std::string, Resolution> answers;
    int calls = 0;
    ResolveFunction function() {
        return [this](const config::SocketAddress& a) -> Task<Resolution> {
            ++calls;
            Resolution r = answers[a.host];
            for (auto& e : r.addresses) {
                e.port(a.port);
            }
            co_return r;
        };
    }
    void set(const std::string& host, std::vector<const char*> ips) {
        Resolution r;
        for (const auto* ip : ips) {
            r.addresses.push_back(addr(ip));
        }
        answers[host] = r;
    }
};

struct Published {
    std::string cluster;
    std::shared_ptr<const SharedCluster> shared;
};

// Cluster "api": "backend.test:8080" (weight 3, resolved at start-up to 10.0.0.1 and 10.0.0.2)
// and the literal "10.0.0.9:8080".
struct Fixture {
    config::Cluster cfg;
    SharedCluster startup;
    FakeDns dns;
    std::vector<Published> published;
    DnsRefresher refresher;
    asio::io_context io{1};

    Fixture()
        : refresher(
              [this](const std::string& name, std::shared_ptr<const SharedCluster> s) {
                  published.push_back({name, s});
              },
              2, dns.function()) {
        cfg.name = "api";
        cfg.endpoints.push_back({{"backend.test", 8080}, 3, false});
        cfg.endpoints.push_back({{"10.0.0.9", 8080}, 1, false});
        cfg.resolve_interval = 10ms;
        startup.endpoints = {shared("backend.test:8080", "10.0.0.1", 3),
                             shared("backend.test:8080", "10.0.0.2", 3),
                             shared("10.0.0.9:8080", "10.0.0.9")};
        refresher.add_cluster(cfg, startup);
    }

    bool refresh() {
        bool result = false;
        asio::co_spawn(
            io, [&]() -> Task<void> { result = co_await refresher.refresh("api"); },
            asio::detached);
        io.restart();
        io.run();
        return result;
    }
};

TEST(DnsRefresher, ChangedAddressesArePublishedKeepingHealthAndDrainingRemoved) {
    Fixture f;
    f.dns.set("backend.test", {"10.0.0.2", "10.0.0.3"});
    EXPECT_TRUE(f.refresh());
    EXPECT_EQ(f.dns.calls, 1) << "the IP literal must not be resolved";
    ASSERT_EQ(f.published.size(), 1u);
    EXPECT_EQ(f.published[0].cluster, "api");
    const auto& next = *f.published[0].shared;
    EXPECT_EQ(next.circuit, f.startup.circuit) << "breaker counters survive the change";
    ASSERT_EQ(next.endpoints.size(), 3u);
    EXPECT_EQ(next.endpoints[0].health, f.startup.endpoints[1].health);  // 10.0.0.2 kept
    EXPECT_EQ(next.endpoints[1].health, f.startup.endpoints[2].health);  // literal kept
    EXPECT_EQ(next.endpoints[2].address, addr("10.0.0.3"));
    EXPECT_EQ(next.endpoints[2].weight, 3u);
    EXPECT_NE(next.endpoints[2].health->ready_since_ns.load(), 0);
    EXPECT_TRUE(f.startup.endpoints[0].health->is_draining()) << "removed 10.0.0.1 drains";
    EXPECT_FALSE(f.startup.endpoints[1].health->is_draining());
    EXPECT_EQ(f.refresher.current("api"), f.published[0].shared);

    // The next change is computed against what was published, not the start-up set.
    f.dns.set("backend.test", {"10.0.0.3"});
    EXPECT_TRUE(f.refresh());
    ASSERT_EQ(f.published.size(), 2u);
    ASSERT_EQ(f.published[1].shared->endpoints.size(), 2u);
    EXPECT_EQ(f.published[1].shared->endpoints[1].health, next.endpoints[2].health);
    EXPECT_TRUE(f.startup.endpoints[1].health->is_draining());
}

TEST(DnsRefresher, UnchangedSetPublishesNothing) {
    Fixture f;
    f.dns.set("backend.test", {"10.0.0.2", "10.0.0.1", "10.0.0.2"});  // reordered, duplicated
    EXPECT_FALSE(f.refresh());
    EXPECT_FALSE(f.refresh());
    EXPECT_EQ(f.dns.calls, 2);
    EXPECT_TRUE(f.published.empty());
    for (const auto& e : f.startup.endpoints) {
        EXPECT_FALSE(e.health->is_draining());
    }
}

TEST(DnsRefresher, FailedResolutionKeepsTheOldAddresses) {
    Fixture f;
    f.dns.answers["backend.test"] = Resolution{asio::error::host_not_found, {}};
    EXPECT_FALSE(f.refresh());
    f.dns.answers["backend.test"] = Resolution{};  // no error, but no addresses either
    EXPECT_FALSE(f.refresh());
    EXPECT_TRUE(f.published.empty());
    EXPECT_EQ(f.refresher.current("api")->endpoints.size(), 3u);
    for (const auto& e : f.startup.endpoints) {
        EXPECT_FALSE(e.health->is_draining());
    }
    // Once it resolves again, changes flow.
    f.dns.set("backend.test", {"10.0.0.1"});
    EXPECT_TRUE(f.refresh());
    ASSERT_EQ(f.published.size(), 1u);
    EXPECT_EQ(f.published[0].shared->endpoints.size(), 2u);
}

TEST(DnsRefresher, ClusterOfIpLiteralsIsNotWatched) {
    config::Cluster cfg;
    cfg.name = "static";
    cfg.endpoints.push_back({{"127.0.0.1", 80}, 1, false});
    cfg.endpoints.push_back({{"::1", 80}, 1, false});
    DnsRefresher r([](const std::string&, std::shared_ptr<const SharedCluster>) {}, 1);
    r.add_cluster(cfg, SharedCluster{});
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(r.current("static"), nullptr);
}

TEST(DnsRefresher, RunRefreshesEveryInterval) {
    Fixture f;
    f.dns.set("backend.test", {"10.0.0.1", "10.0.0.2"});
    auto inner = f.dns.function();
    // The address changes on the third resolution; publishing stops the io_context.
    DnsRefresher refresher(
        [&](const std::string& name, std::shared_ptr<const SharedCluster> s) {
            f.published.push_back({name, s});
            f.io.stop();
        },
        2,
        [&](const config::SocketAddress& a) {
            if (f.dns.calls == 2) {
                f.dns.set("backend.test", {"10.0.0.7"});
            }
            return inner(a);
        });
    refresher.add_cluster(f.cfg, f.startup);
    asio::co_spawn(f.io, refresher.run(), asio::detached);
    f.io.run_for(10s);  // returns as soon as the change is published
    EXPECT_EQ(f.dns.calls, 3);
    ASSERT_EQ(f.published.size(), 1u);
    EXPECT_EQ(f.published[0].shared->endpoints.back().address, addr("10.0.0.7"));
}

}  // namespace
}  // namespace usher::upstream
