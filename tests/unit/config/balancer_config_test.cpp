// The clusters.<name>.balancer key of the config.
#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace usher::config {
namespace {

using namespace std::chrono_literals;
using Errors = std::vector<std::string>;

// The balancer value goes on line 5, after two spaces of indentation under "balancer:".
LoadResult load(const std::string& balancer) {
    return load_string(
        "listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n"
        "    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]\n    balancer: " +
            balancer + "\n",
        "usher.yaml");
}

Errors errors_of(const std::string& balancer) {
    Errors out;
    for (const auto& d : load(balancer).errors) {
        out.push_back(d.to_string());
    }
    return out;
}

const Cluster& api(const LoadResult& r) {
    return r.config->clusters.at("api");
}

TEST(BalancerConfig, DefaultIsRoundRobin) {
    auto r = load_string(
        "listeners: [{address: 127.0.0.1:8080}]\nclusters: {a: {endpoints: [h:1]}}", "usher.yaml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config->clusters.at("a").balancer, BalancerKind::round_robin);
}

TEST(BalancerConfig, EveryKindReadsAsAWord) {
    const std::vector<std::pair<std::string, BalancerKind>> kinds{
        {"round_robin", BalancerKind::round_robin}, {"least_request", BalancerKind::least_request},
        {"random", BalancerKind::random},           {"ring_hash", BalancerKind::ring_hash},
        {"maglev", BalancerKind::maglev},           {"cookie", BalancerKind::cookie},
        {"peak_ewma", BalancerKind::peak_ewma}};
    for (const auto& [word, kind] : kinds) {
        auto r = load(word);
        ASSERT_TRUE(r.ok()) << word << ": " << r.errors.at(0).to_string();
        EXPECT_EQ(api(r).balancer, kind) << word;
    }
}

TEST(BalancerConfig, HashBalancersHashTheSourceIpByDefault) {
    auto r = load("maglev");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(api(r).balancer_options.hash_on, HashOn::source_ip);
}

TEST(BalancerConfig, HashOnAHeaderOrCookieNeedsAName) {
    auto r = load("{ kind: ring_hash, hash_on: header, name: X-User }");
    ASSERT_TRUE(r.ok()) << r.errors.at(0).to_string();
    EXPECT_EQ(api(r).balancer, BalancerKind::ring_hash);
    EXPECT_EQ(api(r).balancer_options.hash_on, HashOn::header);
    EXPECT_EQ(api(r).balancer_options.hash_name, "X-User");
    r = load("{ kind: maglev, hash_on: path }");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(api(r).balancer_options.hash_on, HashOn::path);
    EXPECT_EQ(errors_of("{ kind: maglev, hash_on: cookie }"),
              Errors{"usher.yaml:6:15: clusters.api.balancer: hash_on: cookie needs \"name\" (the "
                     "cookie to hash)"});
    EXPECT_EQ(errors_of("{ kind: maglev, hash_on: header, name: \"X User\" }"),
              Errors{"usher.yaml:6:54: clusters.api.balancer.name: invalid header name \"X "
                     "User\""});
}

TEST(BalancerConfig, CookieBalancerHasADefaultCookieName) {
    auto r = load("cookie");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(api(r).balancer_options.hash_on, HashOn::cookie);
    EXPECT_EQ(api(r).balancer_options.hash_name, "usher_sticky");
    r = load("{ kind: cookie, cookie: { name: srv } }");
    ASSERT_TRUE(r.ok()) << r.errors.at(0).to_string();
    EXPECT_EQ(api(r).balancer_options.hash_name, "srv");
}

TEST(BalancerConfig, PeakEwmaDecayDefaultsToTenSeconds) {
    auto r = load("peak_ewma");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(api(r).balancer_options.decay, 10s);
    r = load("{ kind: peak_ewma, peak_ewma: { decay: 2s } }");
    ASSERT_TRUE(r.ok()) << r.errors.at(0).to_string();
    EXPECT_EQ(api(r).balancer_options.decay, 2s);
}

TEST(BalancerConfig, ErrorsNameTheFieldAndSuggest) {
    EXPECT_EQ(errors_of("maglv"),
              Errors{"usher.yaml:6:15: clusters.api.balancer: unknown balancer \"maglv\" (did you "
                     "mean 'maglev'?)"});
    EXPECT_EQ(
        errors_of("{ kind: ring_hash, hash_onn: path }"),
        Errors{"usher.yaml:6:34: clusters.api.balancer.hash_onn: unknown key \"hash_onn\" (did you "
               "mean 'hash_on'?)"});
    EXPECT_EQ(errors_of("{ hash_on: path }"),
              Errors{"usher.yaml:6:15: clusters.api.balancer: missing required key \"kind\""});
    EXPECT_EQ(errors_of("{ kind: random, hash_on: path }"),
              Errors{"usher.yaml:6:40: clusters.api.balancer.hash_on: \"hash_on\" only applies to "
                     "balancer ring_hash and maglev"});
    EXPECT_EQ(
        errors_of("{ kind: peak_ewma, peak_ewma: { decay: 0s } }"),
        Errors{"usher.yaml:6:54: clusters.api.balancer.peak_ewma.decay: must be greater than 0"});
}

}  // namespace
}  // namespace usher::config
