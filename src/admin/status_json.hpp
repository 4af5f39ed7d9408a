#pragma once
// The `GET /status` document (docs/operations.md has the schema; the dashboard reads it): process,
// config and reload, totals, latency percentiles, listeners, routes, and every cluster's
// endpoints with their state and counters. Pure: renders what it is given.
#include <string>

#include "admin/admin_state.hpp"

namespace usher::admin {

struct StatusInput {
    const AdminState* state = nullptr;
    const AdminState::View* view = nullptr;
    const MetricsTotals* metrics = nullptr;
    const ActiveRequests* active = nullptr;  // may be null (then 0)
};

std::string render_status(const StatusInput& in);

// "2026-11-29T16:00:00Z"
std::string iso8601(std::chrono::system_clock::time_point t);

}  // namespace usher::admin
