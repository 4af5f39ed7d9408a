#pragma once
// The seam between the proxy and the balancing algorithms. One algorithm per file, all built by
// make_balancer() (balancers.cpp). Per worker: no locks, no atomics.
//
// Every balancer follows the same rules: an endpoint in `tried` or draining is never returned;
// unhealthy (failed active checks or ejected) endpoints are skipped unless none of the untried
// ones is healthy (panic: then all non-draining ones are used; Cluster::pick applies the
// cluster's panic mode); nullptr means no endpoint is left. Eligibility below is where these rules
// live.
#include <chrono>
#include <cstdint>
#include <vector>

#include "upstream/endpoint.hpp"
#include "upstream/hash.hpp"
#include "upstream/tried_set.hpp"

namespace usher::upstream {

// What a pick may depend on, built by the proxy per attempt without allocating.
struct PickContext {
    // The request's hash key (source IP, a header, a cookie or the path, per the cluster's
    // config), computed only when the balancer's needs_hash() is true. has_hash is false when the
    // key is absent from the request (no such header or cookie): hash balancers then pick at
    // random.
    std::uint64_t hash = 0;
    bool has_hash = false;
    Random* random = nullptr;  // never null when pick() runs (Cluster::pick fills it in)
};

class LoadBalancer {
  public:
    virtual ~LoadBalancer() = default;

    // An eligible endpoint (see above), or nullptr when every endpoint was tried.
    virtual Endpoint* pick(const PickContext& ctx, const TriedSet& tried) = 0;

    // True when pick() uses ctx.hash; the proxy computes it only then.
    virtual bool needs_hash() const noexcept { return false; }

    // Called by the proxy around every attempt sent to `ep` (also failed connects). The default
    // keeps the endpoint's in-flight count; latency is the time to the response head.
    virtual void on_request_start(Endpoint& ep) noexcept { ++ep.in_flight; }
    virtual void on_request_end(Endpoint& ep, std::chrono::nanoseconds latency,
                                bool success) noexcept {
        (void)latency;
        (void)success;
        --ep.in_flight;
    }
};

// The healthy/panic/tried filter shared by every balancer. Whether any untried endpoint is
// healthy is computed lazily, so a pick whose first candidate is healthy costs O(1).
class Eligibility {
  public:
    Eligibility(const std::vector<Endpoint>& endpoints, const TriedSet& tried) noexcept
        : endpoints_(endpoints), tried_(tried) {}

    bool operator()(const Endpoint& ep) const noexcept {
        if (tried_.contains(ep.index) || ep.draining()) {
            return false;
        }
        return ep.healthy() || panic();
    }
    // True when no untried endpoint is healthy: then unhealthy ones are eligible too.
    bool panic() const noexcept {
        if (state_ == State::unknown) {
            bool any = false;
            for (const auto& ep : endpoints_) {
                if (!tried_.contains(ep.index) && !ep.draining() && ep.healthy()) {
                    any = true;
                    break;
                }
            }
            state_ = any ? State::normal : State::panic;
        }
        return state_ == State::panic;
    }
    // True when some endpoint is eligible (O(N); hash balancers call it before walking).
    bool any() const noexcept {
        for (const auto& ep : endpoints_) {
            if ((*this)(ep)) {
                return true;
            }
        }
        return false;
    }

  private:
    enum class State { unknown, normal, panic };
    const std::vector<Endpoint>& endpoints_;
    const TriedSet& tried_;
    mutable State state_ = State::unknown;
};

// A weighted random choice among the eligible endpoints: O(log N) via prefix sums when the drawn
// endpoint is eligible, O(N) otherwise. Shared by random, least_request and peak_ewma.
class WeightedDraw {
  public:
    explicit WeightedDraw(const std::vector<Endpoint>& endpoints);
    Endpoint* draw(std::vector<Endpoint>& endpoints, const Eligibility& eligible, Random& random);

  private:
    std::vector<std::uint64_t> prefix_;  // prefix_[i] = sum of weights of endpoints 0..i
};

}  // namespace usher::upstream
