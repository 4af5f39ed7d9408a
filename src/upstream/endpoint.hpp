#pragma once
// An upstream endpoint as a worker sees it: a resolved address, its weight and its idle pool.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/asio.hpp"
#include "net/tls_session.hpp"
#include "upstream/health.hpp"

namespace usher::upstream {

struct Endpoint;
struct CircuitCounters;
class H2Upstream;

// One upstream TCP connection, owned by the exchange using it or by its endpoint's idle list.
struct Connection {
    explicit Connection(const Executor& ex, Endpoint* ep) : socket(ex), endpoint(ep) {}
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    TcpSocket socket;
    std::unique_ptr<net::TlsSession> tls;  // TLS clusters (declared after the socket it uses)
    Endpoint* endpoint;
    std::uint64_t requests = 0;  // requests sent on this connection
    std::chrono::steady_clock::time_point idle_since{};
    // Set while the connection counts towards the cluster's max_connections breaker.
    CircuitCounters* counted = nullptr;
};

struct Endpoint {
    std::string label;  // "127.0.0.1:9001" (logs, never shown to clients)
    asio::ip::tcp::endpoint address;
    std::uint32_t weight = 1;
    std::size_t index = 0;             // position in its cluster (for TriedSet)
    EndpointHealth* health = nullptr;  // process-wide, owned by the config snapshot

    bool healthy() const noexcept { return health == nullptr || health->is_healthy(); }
    bool draining() const noexcept { return health != nullptr && health->is_draining(); }

    // Balancer state (per worker). `id` is what the cookie balancer puts in its cookie: a hash of
    // the label, stable across workers and restarts, revealing nothing about the address.
    std::string id;
    std::uint32_t in_flight = 0;  // attempts started and not yet ended (least_request, peak_ewma)
    double latency_ewma_ns = 0;   // peak_ewma: decayed peak latency as of latency_stamp
    std::chrono::steady_clock::time_point latency_stamp{};

    // Idle keep-alive connections, most recently used last (LIFO reuse keeps few hot).
    std::vector<std::unique_ptr<Connection>> idle;
    // `protocol: h2` clusters: this worker's multiplexed connection to the endpoint (or null).
    std::shared_ptr<H2Upstream> h2;
};

}  // namespace usher::upstream
