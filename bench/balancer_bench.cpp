// Cost of one pick per balancer, with 10 and 100 endpoints (weights 1..4, all healthy, nothing
// tried). Hash balancers get a different key each pick. Run: build/bench/balancer_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "upstream/balancers.hpp"
#include "upstream/sticky_cookie.hpp"

namespace {

using usher::config::BalancerKind;
using namespace usher::upstream;

void pick(benchmark::State& state, BalancerKind kind) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<Endpoint> endpoints(n);
    for (std::size_t i = 0; i < n; ++i) {
        endpoints[i].label =
            "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80";
        endpoints[i].id = sticky_id(endpoints[i].label);
        endpoints[i].weight = static_cast<std::uint32_t>(1 + i % 4);
        endpoints[i].index = i;
    }
    usher::config::Cluster cfg;
    cfg.balancer = kind;
    auto lb = make_balancer(cfg, endpoints);
    Random random(1);
    std::uint64_t key = 0;
    for (auto _ : state) {
        PickContext ctx{.hash = mix64(++key), .has_hash = true, .random = &random};
        Endpoint* ep = lb->pick(ctx, {});
        benchmark::DoNotOptimize(ep);
    }
}

#define USHER_BALANCER_BENCH(kind) \
    BENCHMARK_CAPTURE(pick, kind, BalancerKind::kind)->Arg(10)->Arg(100)

USHER_BALANCER_BENCH(round_robin);
USHER_BALANCER_BENCH(least_request);
USHER_BALANCER_BENCH(random);
USHER_BALANCER_BENCH(ring_hash);
USHER_BALANCER_BENCH(maglev);
USHER_BALANCER_BENCH(cookie);
USHER_BALANCER_BENCH(peak_ewma);

}  // namespace
