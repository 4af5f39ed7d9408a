#pragma once
// The process-wide state of one upstream endpoint, shared by every worker: active health (written
// by the health checker thread), passive health (ejections, written by whichever worker sees the
// failure, with compare-and-swap), the drain flag and per-worker counters. Workers read it on the
// data path with relaxed atomic loads, no locks. Lives in the config snapshot (SharedEndpoint).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/asio.hpp"

namespace usher::upstream {

// Nanoseconds on the steady clock: what the atomics below store (0 = never / not set).
inline std::int64_t steady_ns(std::chrono::steady_clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
inline std::int64_t steady_now_ns() noexcept {
    return steady_ns(std::chrono::steady_clock::now());
}

// One worker's counters for one endpoint. Only that worker writes (load + store, no locked
// instruction); anyone may read and sum them (EndpointHealth::totals). One cache line each.
struct alignas(64) EndpointCounters {
    std::atomic<std::uint64_t> requests{0};          // attempts sent (or started connecting)
    std::atomic<std::uint64_t> connect_failures{0};  // connect refused / unreachable / timed out
    std::atomic<std::uint64_t> resets{0};            // closed or reset before a response head
    std::atomic<std::uint64_t> timeouts{0};          // per-try / upstream header timeouts
    std::atomic<std::uint64_t> responses_5xx{0};     // response heads with status >= 500
    std::atomic<std::uint64_t> retries{0};           // attempts that were retries
    std::atomic<std::uint64_t> ejections{0};         // ejections this worker decided

    static void bump(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// Plain sums of every worker's EndpointCounters.
struct EndpointTotals {
    std::uint64_t requests = 0, connect_failures = 0, resets = 0, timeouts = 0, responses_5xx = 0,
                  retries = 0, ejections = 0;
};

// The state shown by visibility (the admin API's /status); the first that applies wins.
enum class EndpointState { draining, unhealthy, ejected, slow_start, healthy };
const char* endpoint_state_name(EndpointState s) noexcept;

struct EndpointHealth {
    explicit EndpointHealth(std::size_t workers = 1)
        : worker_count(workers == 0 ? 1 : workers),
          counters(std::make_unique<EndpointCounters[]>(worker_count)) {}

    // Active checks: false once they failed `unhealthy_threshold` times in a row; true again
    // after `healthy_threshold` successes. Endpoints of clusters without checks stay healthy.
    std::atomic<bool> healthy{true};
    std::atomic<std::uint64_t> checks{0};          // checks run
    std::atomic<std::uint64_t> check_failures{0};  // checks failed
    std::atomic<std::uint64_t> transitions{0};     // healthy <-> unhealthy changes

    // Drained: no new requests (even in panic); requests in flight finish; idle pooled
    // connections are closed. Set by config (`drain: true`), DNS (address removed), admin API.
    std::atomic<bool> draining{false};

    // Passive health (outlier detection).
    std::atomic<std::uint32_t> consecutive_failures{0};
    std::atomic<std::int64_t> ejected_until_ns{0};  // 0 = not ejected
    std::atomic<std::uint32_t> ejection_level{0};   // ejections in a row (backoff exponent)
    std::atomic<std::int64_t> last_ejection_ns{0};  // when the last ejection ended or began
    std::atomic<std::uint64_t> ejections_total{0};

    // Slow start: when the endpoint last became usable (recovered, un-ejected, undrained).
    std::atomic<std::int64_t> ready_since_ns{0};

    std::size_t worker_count;
    std::unique_ptr<EndpointCounters[]> counters;  // one per worker (index = worker id)

    bool is_ejected(std::int64_t now_ns) const noexcept {
        const auto until = ejected_until_ns.load(std::memory_order_relaxed);
        return until != 0 && now_ns < until;
    }
    // Usable by a balancer outside of panic: actively healthy and not ejected. The clock is only
    // read when an ejection is recorded.
    bool is_healthy() const noexcept {
        if (!healthy.load(std::memory_order_relaxed)) {
            return false;
        }
        const auto until = ejected_until_ns.load(std::memory_order_relaxed);
        return until == 0 || steady_now_ns() >= until;
    }
    bool is_draining() const noexcept { return draining.load(std::memory_order_relaxed); }

    EndpointCounters& worker_counters(std::size_t worker) noexcept {
        return counters[worker < worker_count ? worker : 0];
    }
    EndpointTotals totals() const noexcept;
    EndpointState state(std::chrono::milliseconds slow_start) const noexcept;

    // Marks the endpoint usable again now (starts its slow-start window).
    void mark_ready() noexcept { ready_since_ns.store(steady_now_ns(), std::memory_order_relaxed); }
    void set_draining(bool on) noexcept;
};

// One resolved endpoint of a cluster, as the config snapshot holds it for all workers.
struct SharedEndpoint {
    std::string label;  // "host:port" as configured (logs, never shown to clients)
    asio::ip::tcp::endpoint address;
    std::uint32_t weight = 1;
    std::shared_ptr<EndpointHealth> health = std::make_shared<EndpointHealth>();
};

}  // namespace usher::upstream
