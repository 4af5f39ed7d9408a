#pragma once
// Helpers shared by the balancer tests: endpoints with distinct labels and weights, and counting
// where picks land.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "upstream/load_balancer.hpp"
#include "upstream/sticky_cookie.hpp"

namespace usher::upstream::testing {

inline std::vector<Endpoint> make_endpoints(const std::vector<std::uint32_t>& weights) {
    std::vector<Endpoint> out(weights.size());
    for (std::size_t i = 0; i < weights.size(); ++i) {
        out[i].label = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80";
        out[i].id = sticky_id(out[i].label);
        out[i].weight = weights[i];
        out[i].index = i;
    }
    return out;
}

// Picks `n` times (each with a fresh random hash when `hashed`) and counts per endpoint index.
inline std::vector<std::uint64_t> count_picks(LoadBalancer& lb, std::size_t endpoints,
                                              std::uint64_t n, bool hashed,
                                              std::uint64_t seed = 42) {
    Random random(seed);
    std::vector<std::uint64_t> counts(endpoints, 0);
    for (std::uint64_t i = 0; i < n; ++i) {
        PickContext ctx{
            .hash = hashed ? mix64(i + seed) : 0, .has_hash = hashed, .random = &random};
        Endpoint* ep = lb.pick(ctx, {});
        EXPECT_NE(ep, nullptr);
        if (ep != nullptr) {
            ++counts[ep->index];
        }
    }
    return counts;
}

// Each endpoint's share of the picks is within `tolerance` (relative) of its share of weight.
// Prints the figures.
inline void expect_weighted(const std::string& name, const std::vector<std::uint64_t>& counts,
                            const std::vector<std::uint32_t>& weights, double tolerance) {
    std::uint64_t total = 0, total_weight = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        total += counts[i];
        total_weight += weights[i];
    }
    double worst = 0;
    std::cout << "[distribution] " << name << " (" << total << " picks):";
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double expected = static_cast<double>(weights[i]) / static_cast<double>(total_weight);
        const double got = static_cast<double>(counts[i]) / static_cast<double>(total);
        const double error = (got - expected) / expected;
        worst = std::max(worst, std::abs(error));
        std::cout << " w" << weights[i] << "=" << got * 100 << "%";
        EXPECT_NEAR(got, expected, expected * tolerance) << name << " endpoint " << i;
    }
    std::cout << "; worst relative error " << worst * 100 << "%\n";
}

}  // namespace usher::upstream::testing
