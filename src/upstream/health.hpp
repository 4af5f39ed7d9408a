#pragma once
// The process-wide state of one upstream endpoint, shared by every worker: written by a single
// writer (the health checker thread; later also outlier detection), read by workers on the data
// path with relaxed atomic loads, no locks. Lives in the config snapshot (SharedEndpoint).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/asio.hpp"

namespace usher::upstream {

struct EndpointHealth {
    // False once active checks failed `unhealthy_threshold` times in a row; true again after
    // `healthy_threshold` successes. Endpoints of clusters without health checks stay healthy.
    std::atomic<bool> healthy{true};
    std::atomic<std::uint64_t> checks{0};          // checks run
    std::atomic<std::uint64_t> check_failures{0};  // checks failed
    std::atomic<std::uint64_t> transitions{0};     // healthy <-> unhealthy changes

    bool is_healthy() const noexcept { return healthy.load(std::memory_order_relaxed); }
};

// One resolved endpoint of a cluster, as the config snapshot holds it for all workers.
struct SharedEndpoint {
    std::string label;  // "host:port" as configured (logs, never shown to clients)
    asio::ip::tcp::endpoint address;
    std::uint32_t weight = 1;
    std::shared_ptr<EndpointHealth> health = std::make_shared<EndpointHealth>();
};

}  // namespace usher::upstream
