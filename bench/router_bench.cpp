// Route matching cost with 10, 100 and 1,000 routes, the request matching the last one (the
// worst case for first-match-wins), for prefix paths and for host + path routes.
#include <benchmark/benchmark.h>

#include <string>

#include "config/loader.hpp"
#include "http/h1/parser.hpp"
#include "proxy/router.hpp"

namespace {

std::shared_ptr<usher::config::Config> make_config(int routes, bool with_hosts) {
    std::string yaml =
        "listeners: [{address: \"127.0.0.1:1\"}]\nclusters:\n  a: {endpoints: [\"127.0.0.1:9\"]}\n"
        "routes:\n";
    for (int i = 0; i < routes; ++i) {
        yaml += "  - {cluster: a, match: {path: {prefix: /r" + std::to_string(i) + "/}";
        if (with_hosts) {
            yaml += ", host: h" + std::to_string(i) + ".example.com";
        }
        yaml += "}}\n";
    }
    auto r = usher::config::load_string(yaml, "bench.yaml");
    if (!r.ok()) {
        std::abort();
    }
    return r.config;
}

void match_last(benchmark::State& state, bool with_hosts) {
    int n = static_cast<int>(state.range(0));
    auto cfg = make_config(n, with_hosts);
    usher::proxy::Router router(*cfg);
    std::string last = std::to_string(n - 1);
    std::string raw = "GET /r" + last + "/items?id=7 HTTP/1.1\r\nHost: h" + last +
                      ".example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    usher::http::RequestHead head;
    if (!usher::http::h1::parse_request_head(raw, {}, head).ok()) {
        std::abort();
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(router.match(head, "127.0.0.1:1"));
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_RouterPrefixLast(benchmark::State& state) {
    match_last(state, false);
}
void BM_RouterHostAndPrefixLast(benchmark::State& state) {
    match_last(state, true);
}

}  // namespace

BENCHMARK(BM_RouterPrefixLast)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_RouterHostAndPrefixLast)->Arg(10)->Arg(100)->Arg(1000);
