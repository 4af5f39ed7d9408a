#pragma once
// Internal to config/: reads the resilience keys (issue 4). A cluster's outlier_detection, panic,
// slow_start, circuit_breaker, retry_budget and resolve_interval are read by loader.cpp for each
// cluster; a route's `retry` (a mapping, or a number as shorthand for {retries: N}) is read by
// route_reader.cpp. docs/config.md documents every key and what the proxy does with it.
#include <optional>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config::detail {

// Reads the resilience keys present in the cluster mapping `cluster_field` into `cluster`; keys
// that are absent keep their defaults. Errors go to `r`.
void read_cluster_resilience(Reader& r, const Field& cluster_field, Cluster& cluster);

// Reads the value of a route's `retry` key. Returns the policy (defaults for what is not set);
// after an error the value returned is only meaningful for finding further errors.
std::optional<RetryPolicy> read_retry(Reader& r, const Field& f);

}  // namespace usher::config::detail
