#pragma once
// Internal to config/: reads and validates the `routes` list (matchers, one action, rewrites,
// header edits, per-route timeouts). Called by loader.cpp after listeners and clusters are read,
// because routes refer to both by name.
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config::detail {

struct RouteContext {
    Reader& reader;
    const std::vector<std::string>& listener_names;
    const std::vector<std::string>& cluster_names;
};

// Reads `f` (a list of route mappings). Errors go to ctx.reader; the routes returned are only
// meaningful when none were reported.
std::vector<Route> read_routes(RouteContext& ctx, const Field& f);

// The timeout keys shared by the global `timeouts` block and a route's `timeouts`.
void read_timeout_overrides(Reader& r, const Field& f, TimeoutOverrides& out);

}  // namespace usher::config::detail
