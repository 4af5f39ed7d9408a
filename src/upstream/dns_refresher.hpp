#pragma once
// DnsRefresher: re-resolves the hostnames of cluster endpoints every `resolve_interval` and, when
// a cluster's set of addresses changes, publishes a new SharedCluster for it. Runs on the health
// checker's thread (one control thread for upstream housekeeping); resolution is asynchronous
// (Asio runs getaddrinfo on its own background thread), so no worker ever blocks on DNS.
//
//   kept address     same SharedEndpoint (same EndpointHealth: counters, ejection, drain state)
//   added address    fresh EndpointHealth, marked ready (slow start ramps it in); `drain: true`
//                    in the config applies to it too
//   removed address  its EndpointHealth is marked draining: the workers' retired clusters finish
//                    the requests in flight on it, and no new request picks it
// A failed resolution keeps the addresses that endpoint had; it is logged when an endpoint starts
// failing and when it recovers, not at every interval. Numeric IP literals are never resolved.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/asio.hpp"
#include "upstream/shared_cluster.hpp"

namespace usher::upstream {

// ---- the diff (pure, no DNS) -----------------------------------------------------------------

// One address the cluster should have: `label` is the configured "host:port".
struct DesiredEndpoint {
    std::string label;
    asio::ip::tcp::endpoint address;
    std::uint32_t weight = 1;
    bool drain = false;  // configured `drain: true` (applies to a newly added address)
};

struct EndpointDiff {
    // The new list: kept endpoints in their old order, then added ones in `desired` order.
    std::vector<SharedEndpoint> endpoints;
    std::vector<SharedEndpoint> added;    // also in `endpoints`, each with a fresh health
    std::vector<SharedEndpoint> removed;  // no longer wanted (the caller marks them draining)
    bool changed() const noexcept { return !added.empty() || !removed.empty(); }
};

// Matches `old` against `desired` by (label, address), as multisets. Kept endpoints are copied
// (same health pointer, weight updated from `desired`); an added one gets a new
// EndpointHealth(workers) with mark_ready() called and `drain` applied. Touches no shared state.
EndpointDiff diff_endpoints(const std::vector<SharedEndpoint>& old,
                            const std::vector<DesiredEndpoint>& desired, std::size_t workers);

// True for a numeric IPv4/IPv6 literal (never re-resolved); false for a hostname.
bool is_ip_literal(const std::string& host);
// "127.0.0.1:8080", "[::1]:8080".
std::string address_string(const asio::ip::tcp::endpoint& address);

// ---- the refresher ---------------------------------------------------------------------------

struct Resolution {
    asio::error_code error;  // set, or `addresses` empty: the resolution failed
    std::vector<asio::ip::tcp::endpoint> addresses;
};
// Resolves one configured hostname; runs on the refresher's executor.
using ResolveFunction = std::function<Task<Resolution>(const config::SocketAddress&)>;
// The default: asio::ip::tcp::resolver::async_resolve (getaddrinfo on Asio's resolver thread).
Task<Resolution> system_resolve(const config::SocketAddress& address);

// Called on the refresher's thread with the cluster's new endpoints after a change.
using PublishFunction =
    std::function<void(const std::string& cluster, std::shared_ptr<const SharedCluster>)>;

class DnsRefresher {
  public:
    // `workers` sizes the EndpointHealth of added addresses (one counter slot per worker).
    DnsRefresher(PublishFunction publish, std::size_t workers,
                 ResolveFunction resolve = system_resolve);
    DnsRefresher(const DnsRefresher&) = delete;
    DnsRefresher& operator=(const DnsRefresher&) = delete;

    // Watches `cfg` (which must outlive the refresher) starting from `current`, its endpoints as
    // resolved at start-up. Ignored when every endpoint is an IP literal. Call before run().
    void add_cluster(const config::Cluster& cfg, const SharedCluster& current);
    bool empty() const noexcept { return clusters_.empty(); }

    // The refresh loop of every watched cluster (one coroutine each, joined): waits
    // `resolve_interval`, refreshes, repeats. Spawn it once on the thread that owns the refresher
    // state (HealthChecker::spawn); it ends when that io_context stops.
    Task<void> run();
    // Resolves every hostname of cluster `name` once and publishes a change. Returns true when
    // something was published. Used by run(); public for tests.
    Task<bool> refresh(const std::string& name);

    // The cluster's endpoints as last published (or as given to add_cluster).
    std::shared_ptr<const SharedCluster> current(const std::string& name) const;

  private:
    struct Watched {
        const config::Cluster* cfg = nullptr;
        std::shared_ptr<const SharedCluster> current;
        std::vector<bool> failing;  // per configured endpoint: its last resolution failed
    };
    Task<void> loop(std::string name);

    PublishFunction publish_;
    std::size_t workers_;
    ResolveFunction resolve_;
    std::map<std::string, Watched> clusters_;
};

}  // namespace usher::upstream
