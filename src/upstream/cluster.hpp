#pragma once
// A cluster as one worker sees it: its endpoints (with their idle pools), its balancer state, and
// the resilience rules around them: panic mode, slow start, passive health (outlier detection),
// the retry budget and the circuit breaker. Built per worker from the config snapshot; never
// shared between threads (the process-wide parts live in SharedCluster / EndpointHealth).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "upstream/endpoint.hpp"
#include "upstream/load_balancer.hpp"
#include "upstream/shared_cluster.hpp"

namespace usher::net {
class TlsClientContext;
}

namespace usher::upstream {

// How one attempt ended, as passive health and the counters see it.
enum class AttemptResult { success, connect_failure, reset, timeout, status_5xx };

// Why the circuit breaker refused a request or a retry (empty = it did not).
enum class CircuitLimit { none, connections, pending, requests, retries };
const char* circuit_cause(CircuitLimit limit) noexcept;  // "circuit_open_requests", ...

class Cluster {
  public:
    // `shared` holds the cluster's resolved endpoints (with their health) and breaker counters
    // from the snapshot; `worker` is this worker's id (its slot in the endpoint counters).
    Cluster(const config::Cluster& cfg, const SharedCluster& shared, std::size_t worker = 0);
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    const std::string& name() const noexcept { return name_; }
    const config::Cluster& config() const noexcept { return *config_; }
    const config::Pool& pool() const noexcept { return pool_; }
    std::vector<Endpoint>& endpoints() noexcept { return endpoints_; }

    config::BalancerKind balancer_kind() const noexcept { return balancer_kind_; }
    const config::BalancerOptions& balancer_options() const noexcept { return balancer_options_; }
    LoadBalancer& balancer() noexcept { return *balancer_; }
    Random& random() noexcept { return random_; }
    // The cluster's TLS client context (every endpoint speaks TLS), or nullptr for plain TCP.
    const net::TlsClientContext* tls() const noexcept { return tls_.get(); }

    // The endpoint for this attempt (see LoadBalancer::pick), or nullptr. Endpoints in their
    // slow-start window are accepted with a probability that ramps with their age (otherwise
    // another endpoint is tried once). In panic with `panic: fail`, returns nullptr and sets
    // *panic_refused.
    Endpoint* pick(PickContext ctx, const TriedSet& tried, bool* panic_refused = nullptr);

    // Passive health and counters: called once per attempt with its result. A failure may eject
    // the endpoint (outlier detection); returns true when this call ejected it.
    bool report(Endpoint& ep, AttemptResult result);
    EndpointCounters& counters(Endpoint& ep) noexcept {
        return ep.health->worker_counters(worker_);
    }

    // Requests in flight on this worker (retry budget) and the process-wide circuit breaker.
    // begin_request() refuses (returns the limit) when max_requests is reached.
    CircuitLimit begin_request();
    void end_request();
    // A retry may start: within the retry budget and max_retries. end_retry() when it ends.
    CircuitLimit begin_retry();
    void end_retry();
    // A new connection may be opened (max_connections, max_pending); end_pending() once the
    // connect finished; count_connection() makes `conn` count until it is destroyed.
    CircuitLimit begin_connect();
    void end_connect();
    void count_connection(Connection& conn);

    // A reusable idle connection to `ep`, or nullptr (expired ones are closed on the way).
    // With `max_idle_age` (> 0), only a connection idle for less than that is taken: a request
    // that must not be sent twice avoids connections the backend may be closing right now.
    std::unique_ptr<Connection> take_idle(Endpoint& ep,
                                          std::chrono::milliseconds max_idle_age = {});
    // Keeps `conn` for reuse unless the pool is full, it reached max_requests or its endpoint
    // is draining.
    void put_idle(std::unique_ptr<Connection> conn);
    // Closes connections idle for longer than the pool's idle_timeout, and idle connections of
    // draining endpoints. Called periodically.
    void sweep(std::chrono::steady_clock::time_point now);
    void close_idle();
    // Moves the idle connections of `old` whose endpoint address is also in this cluster (a
    // rebuilt cluster after DNS changed keeps its warm connections).
    void adopt_idle(Cluster& old);

    // Exchanges using this cluster object (per worker, no atomics). A replaced cluster is kept
    // until this drops to zero.
    void acquire() noexcept { ++users_; }
    void release() noexcept { --users_; }
    std::uint64_t users() const noexcept { return users_; }

  private:
    static std::vector<Endpoint> make_endpoints(const std::vector<SharedEndpoint>& shared);
    bool try_eject(Endpoint& ep, std::int64_t now_ns);

    std::string name_;
    const config::Cluster* config_;
    config::Pool pool_;
    std::vector<Endpoint> endpoints_;
    config::BalancerKind balancer_kind_;
    config::BalancerOptions balancer_options_;
    Random random_;
    std::unique_ptr<LoadBalancer> balancer_;
    std::shared_ptr<CircuitCounters> circuit_;
    std::shared_ptr<const net::TlsClientContext> tls_;
    std::size_t worker_;
    std::int64_t slow_start_ns_;
    std::uint64_t active_requests_ = 0;  // this worker (retry budget)
    std::uint64_t active_retries_ = 0;   // this worker (retry budget)
    std::uint64_t users_ = 0;
};

// Holds a cluster for one exchange (Cluster::acquire/release).
class ClusterUse {
  public:
    explicit ClusterUse(Cluster& c) noexcept : c_(c) { c_.acquire(); }
    ~ClusterUse() { c_.release(); }
    ClusterUse(const ClusterUse&) = delete;
    ClusterUse& operator=(const ClusterUse&) = delete;

  private:
    Cluster& c_;
};

}  // namespace usher::upstream
