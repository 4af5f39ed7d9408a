#include "upstream/balancers.hpp"

#include "upstream/least_request.hpp"
#include "upstream/maglev.hpp"
#include "upstream/peak_ewma.hpp"
#include "upstream/ring_hash.hpp"
#include "upstream/round_robin.hpp"
#include "upstream/sticky_cookie.hpp"
#include "upstream/weighted_random.hpp"

namespace usher::upstream {

std::unique_ptr<LoadBalancer> make_balancer(const config::Cluster& cfg,
                                            std::vector<Endpoint>& endpoints) {
    using config::BalancerKind;
    switch (cfg.balancer) {
        case BalancerKind::round_robin:
            return std::make_unique<RoundRobin>(endpoints);
        case BalancerKind::least_request:
            return std::make_unique<LeastRequest>(endpoints);
        case BalancerKind::random:
            return std::make_unique<WeightedRandom>(endpoints);
        case BalancerKind::ring_hash:
            return std::make_unique<RingHash>(endpoints);
        case BalancerKind::maglev:
            return std::make_unique<Maglev>(endpoints);
        case BalancerKind::cookie:
            return std::make_unique<StickyCookie>(endpoints);
        case BalancerKind::peak_ewma:
            return std::make_unique<PeakEwma>(endpoints, cfg.balancer_options.decay);
    }
    return std::make_unique<RoundRobin>(endpoints);
}

}  // namespace usher::upstream
