#pragma once
// The one table of balancers: config::BalancerKind -> a LoadBalancer over a cluster's endpoints.
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "upstream/load_balancer.hpp"

namespace usher::upstream {

// `endpoints` must outlive the balancer and keep its size (balancers keep a reference and
// per-endpoint tables built here). Called once per cluster per worker.
std::unique_ptr<LoadBalancer> make_balancer(const config::Cluster& cfg,
                                            std::vector<Endpoint>& endpoints);

}  // namespace usher::upstream
