#pragma once
// The `GET /metrics` document in the Prometheus text exposition format (version 0.0.4): the
// workers' counters summed (MetricsTotals), the endpoints' shared health and counters, the
// circuit breakers and the reload counters. Pure: renders what it is given. Every family has
// HELP and TYPE lines; the output passes `promtool check metrics` (tests/unit/admin).
#include <string>

#include "admin/admin_state.hpp"

namespace usher::admin {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// `active` (may be null): the endpoints' in-flight requests and idle connections now.
std::string render_metrics(const AdminState& state, const AdminState::View& view,
                           const MetricsTotals& metrics, const ActiveRequests* active = nullptr);

}  // namespace usher::admin
