#include "upstream/round_robin.hpp"

#include <gtest/gtest.h>

#include <map>

namespace usher::upstream {
namespace {

std::vector<Endpoint> endpoints(std::vector<std::uint32_t> weights) {
    std::vector<Endpoint> out(weights.size());
    for (std::size_t i = 0; i < weights.size(); ++i) {
        out[i].label = std::string(1, static_cast<char>('a' + i));
        out[i].weight = weights[i];
        out[i].index = i;
    }
    return out;
}

TEST(RoundRobin, EqualWeightsAlternate) {
    auto eps = endpoints({1, 1, 1});
    RoundRobin rr(eps);
    std::string seq;
    for (int i = 0; i < 6; ++i) {
        seq += rr.pick({}, {})->label;
    }
    EXPECT_EQ(seq, "abcabc");
}

TEST(RoundRobin, WeightsAreSmoothlyInterleaved) {
    auto eps = endpoints({5, 1, 1});
    RoundRobin rr(eps);
    std::string seq;
    for (int i = 0; i < 7; ++i) {
        seq += rr.pick({}, {})->label;
    }
    EXPECT_EQ(seq, "aabacaa");  // nginx's smooth weighted round robin
    std::map<std::string, int> counts;
    for (int i = 0; i < 7000; ++i) {
        ++counts[rr.pick({}, {})->label];
    }
    EXPECT_EQ(counts["a"], 5000);
    EXPECT_EQ(counts["b"], 1000);
}

TEST(RoundRobin, SkipsTriedEndpointsAndReturnsNullWhenAllTried) {
    auto eps = endpoints({1, 1});
    RoundRobin rr(eps);
    TriedSet tried;
    tried.add(0);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(rr.pick({}, tried)->label, "b");
    }
    tried.add(1);
    EXPECT_EQ(rr.pick({}, tried), nullptr);
}

}  // namespace
}  // namespace usher::upstream

namespace usher::upstream {
namespace {

TEST(RoundRobin, SkipsUnhealthyEndpointsAndPanicsToAllWhenNoneIsHealthy) {
    auto eps = endpoints({1, 1, 1});
    EndpointHealth h0, h1, h2;
    eps[0].health = &h0;
    eps[1].health = &h1;
    eps[2].health = &h2;
    RoundRobin rr(eps);
    h1.healthy = false;
    std::string seq;
    for (int i = 0; i < 4; ++i) {
        seq += rr.pick({}, {})->label;
    }
    EXPECT_EQ(seq.find('b'), std::string::npos) << seq;
    h0.healthy = false;
    h2.healthy = false;
    std::string panic;
    for (int i = 0; i < 3; ++i) {
        panic += rr.pick({}, {})->label;
    }
    EXPECT_EQ(panic.size(), 3u);
    EXPECT_NE(panic.find('b'), std::string::npos) << "with none healthy, all are used: " << panic;
}

}  // namespace
}  // namespace usher::upstream
