#pragma once
// Internal to config/: reads a cluster's `balancer` key, either a kind ("maglev") or a mapping
// ({kind: ring_hash, hash_on: header, name: X-User}, {kind: cookie, cookie: {name: s}},
// {kind: peak_ewma, peak_ewma: {decay: 10s}}). Called by loader.cpp for each cluster.
#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config::detail {

// Sets cluster.balancer and cluster.balancer_options from `f`; errors go to `r`.
void read_balancer(Reader& r, const Field& f, Cluster& cluster);

}  // namespace usher::config::detail
