#pragma once
// HealthChecker: active health checks for every endpoint of every cluster that configures
// `health_check`, run by ONE checker for the whole process (its own thread and io_context, not
// one per worker). Each result goes through the endpoint's thresholds, and a state change is
// published to the endpoint's EndpointHealth, which the workers' balancers read with relaxed
// atomic loads: no lock on the data path.
//
//   HTTP check: connect, send `METHOD path HTTP/1.1` with `Connection: close`, read the response
//               (strictly parsed), pass when the status is in `expected_statuses` and the body
//               (first 64 KiB) contains `body_contains`.
//   TCP check:  pass when a connection is established.
// For a TLS cluster (its TlsClientContext given to add_cluster) an HTTP check runs over a client
// TlsSession: handshake with verification as for proxied requests, then the same exchange; a
// failed handshake fails the check ("tls: certificate verify failed: ..."). A TCP check stays a
// plain connect.
// Every check is bounded by `timeout`. The first check runs at start, then every `interval` plus
// a random 0..`jitter`.
//
// Its io_context is also the process's control thread for other upstream housekeeping: the DNS
// refresher runs there (spawn()), and changes the checked endpoints with update_cluster().
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/asio.hpp"
#include "upstream/health.hpp"

namespace usher::net {
class TlsClientContext;
}

namespace usher::upstream {

// The outcome of one check (exposed for tests and logs).
struct CheckResult {
    bool ok = false;
    std::string reason;  // why it failed ("connect: Connection refused", "status 503", ...)
};

class HealthChecker {
  public:
    HealthChecker();
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Watches `endpoints` of cluster `name` with `check`; `tls` set: HTTP checks over TLS with
    // that context (SharedCluster::tls). Call before start().
    void add_cluster(const std::string& name, const config::HealthCheck& check,
                     const std::vector<SharedEndpoint>& endpoints,
                     std::shared_ptr<const net::TlsClientContext> tls = nullptr);
    // The endpoints of cluster `name` changed (DNS): checks start for new endpoints (matched by
    // their EndpointHealth) and stop for those no longer listed; a stopped check ends after the
    // check in flight, without recording its result. Does nothing for a cluster without checks.
    // Call before start() or on the checker thread.
    void update_cluster(const std::string& name, const std::vector<SharedEndpoint>& endpoints);
    bool empty() const noexcept { return targets_.empty() && tasks_.empty(); }
    std::size_t target_count() const noexcept { return targets_.size(); }

    // The checker thread's executor, and a task to run on that thread (the DNS refresher).
    // spawn() before start(); a spawned task makes start() run the thread even with no checks.
    Executor executor() noexcept { return io_.get_executor(); }
    void spawn(Task<void> task);

    void start();  // starts the checker thread (no-op when there is nothing to check or run)
    void stop();   // stops and joins it

    // Runs one check (used by the loop; public for tests). `tls`: as for add_cluster; it must
    // outlive the check.
    static Task<CheckResult> check_once(const config::HealthCheck& check,
                                        const SharedEndpoint& endpoint,
                                        const net::TlsClientContext* tls = nullptr);

  private:
    struct Target {
        std::string cluster;
        config::HealthCheck check;
        SharedEndpoint endpoint;
        std::shared_ptr<const net::TlsClientContext> tls;  // nullptr = plain HTTP
        std::uint64_t successes = 0;                       // consecutive
        std::uint64_t failures = 0;                        // consecutive
        bool stopped = false;          // removed by update_cluster: the watch loop ends
        SteadyTimer* timer = nullptr;  // the watch loop's timer while it runs (to cancel it)
    };
    // The loop of one target; shares ownership so a removed target outlives its last check.
    Task<void> watch(std::shared_ptr<Target> target);
    void add_target(const std::string& name, const config::HealthCheck& check,
                    const SharedEndpoint& endpoint);
    // The cluster's TLS context, kept for targets added later by update_cluster.
    std::map<std::string, std::shared_ptr<const net::TlsClientContext>> tls_;

    asio::io_context io_{1};
    std::map<std::string, config::HealthCheck> checks_;  // cluster name -> its check
    std::vector<std::shared_ptr<Target>> targets_;
    std::vector<Task<void>> tasks_;  // spawned at start()
    bool started_ = false;
    std::thread thread_;
};

}  // namespace usher::upstream
