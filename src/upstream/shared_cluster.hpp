#pragma once
// The process-wide part of one cluster, shared by every worker through the config snapshot: its
// resolved endpoints (each with its EndpointHealth) and the circuit breaker's counters, which
// are the only cluster-wide atomics written on the data path, and only when a limit is set.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "upstream/health.hpp"

namespace usher::net {
class TlsClientContext;
}

namespace usher::upstream {

struct CircuitCounters {
    std::atomic<std::int64_t> connections{0};  // upstream connections open (in use + idle)
    std::atomic<std::int64_t> pending{0};      // requests waiting for a new connection
    std::atomic<std::int64_t> requests{0};     // requests in flight
    std::atomic<std::int64_t> retries{0};      // retries in flight
    std::atomic<std::uint64_t> trips{0};       // requests refused by a limit (any)
};

struct SharedCluster {
    std::vector<SharedEndpoint> endpoints;
    std::shared_ptr<CircuitCounters> circuit = std::make_shared<CircuitCounters>();
    // TLS to the endpoints (https:// cluster): the client context every worker and the health
    // checker share, with its session cache. nullptr = plain HTTP.
    std::shared_ptr<const net::TlsClientContext> tls;
};

}  // namespace usher::upstream
