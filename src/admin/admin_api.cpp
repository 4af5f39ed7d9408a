#include "admin/admin_api.hpp"

#include <algorithm>
#include <cctype>

#include "admin/dashboard/dashboard_html.hpp"
#include "admin/json_writer.hpp"
#include "admin/metrics_text.hpp"
#include "admin/status_json.hpp"
#include "config/redact.hpp"
#include "core/log.hpp"
#include "upstream/dns_refresher.hpp"

namespace usher::admin {
namespace {

AdminResponse error(int status, std::string_view message) {
    return {.status = status, .body = json_error(message)};
}

AdminResponse method_not_allowed(const char* allow) {
    auto r = error(405, "method not allowed");
    r.allow = allow;
    return r;
}

// Compares without an early exit, so the time taken does not tell how much of a guess matched
// (only whether its length is right).
bool same_secret(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        auto end = path.find('/', i);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        parts.emplace_back(path.substr(i, end - i));
        i = end;
    }
    return parts;
}

int hex(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) {
            return std::nullopt;
        }
        const int hi = hex(s[i + 1]);
        const int lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

AdminApi::AdminApi(AdminState& state, std::string token)
    : state_(state), token_(std::move(token)) {}

bool AdminApi::authorized(const AdminRequest& request) const {
    if (token_.empty()) {
        return true;
    }
    constexpr std::string_view kBearer = "Bearer ";
    std::string_view auth = request.authorization;
    if (auth.size() < kBearer.size() ||
        !std::equal(kBearer.begin(), kBearer.end(), auth.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return false;
    }
    return same_secret(auth.substr(kBearer.size()), token_);
}

AdminResponse AdminApi::handle(const AdminRequest& request) {
    std::string_view target = request.target;
    const auto query = target.find('?');
    const std::string_view path = target.substr(0, query);
    const auto parts = split_path(path);
    const std::string& m = request.method;
    const bool get = m == "GET" || m == "HEAD";

    if (path == "/healthz") {
        return get ? AdminResponse{.body = "{\"status\": \"live\"}\n"}
                   : method_not_allowed("GET, HEAD");
    }
    // The dashboard page is static and holds no data (it reads /status, which needs the token,
    // and asks the operator for it on a 401): a browser can open it without a bearer header.
    if (path == "/" || path == "/index.html") {
        if (!get) {
            return method_not_allowed("GET, HEAD");
        }
        return {.content_type = "text/html; charset=utf-8", .body = std::string(kDashboardHtml)};
    }
    if (!authorized(request)) {
        auto r = error(401, token_.empty() ? "unauthorized"
                                           : "missing or wrong bearer token (Authorization: "
                                             "Bearer <token>)");
        r.www_authenticate = true;
        return r;
    }
    if (path == "/ready") {
        if (!get) {
            return method_not_allowed("GET, HEAD");
        }
        if (state_.draining.load()) {
            return {.status = 503, .body = "{\"ready\": false, \"reason\": \"draining\"}\n"};
        }
        if (!state_.ready.load()) {
            return {.status = 503, .body = "{\"ready\": false, \"reason\": \"starting\"}\n"};
        }
        // Ready once every actively checked endpoint has had its first check.
        const auto view = state_.view();
        for (const auto& [name, cluster] : view.snapshot->config->clusters) {
            const auto it = view.clusters.find(name);
            if (!cluster.health_check || it == view.clusters.end()) {
                continue;
            }
            for (const auto& ep : it->second->endpoints) {
                if (ep.health->checks.load() == 0) {
                    return {.status = 503,
                            .body =
                                "{\"ready\": false, \"reason\": \"first health checks "
                                "pending\"}\n"};
                }
            }
        }
        return {.body = "{\"ready\": true}\n"};
    }
    if (path == "/status") {
        if (!get) {
            return method_not_allowed("GET, HEAD");
        }
        const auto view = state_.view();
        const auto metrics = state_.collect_metrics();
        ActiveRequests active;
        if (state_.active_requests) {
            active = state_.active_requests();
        }
        return {.body = render_status({&state_, &view, &metrics, &active})};
    }
    if (path == "/metrics") {
        if (!get) {
            return method_not_allowed("GET, HEAD");
        }
        const auto view = state_.view();
        ActiveRequests active;
        if (state_.active_requests) {
            active = state_.active_requests();
        }
        return {.content_type = kMetricsContentType,
                .body = render_metrics(state_, view, state_.collect_metrics(), &active)};
    }
    if (path == "/config") {
        if (!get) {
            return method_not_allowed("GET, HEAD");
        }
        const auto view = state_.view();
        return {.content_type = "application/yaml; charset=utf-8",
                .body = config::redacted_yaml(*view.snapshot->config)};
    }
    if (path == "/config/reload") {
        if (m != "POST") {
            return method_not_allowed("POST");
        }
        return reload();
    }
    if (parts.size() == 5 && parts[0] == "clusters" && parts[2] == "endpoints" &&
        (parts[4] == "drain" || parts[4] == "undrain")) {
        if (m != "POST") {
            return method_not_allowed("POST");
        }
        const auto cluster = percent_decode(parts[1]);
        const auto address = percent_decode(parts[3]);
        if (!cluster || !address) {
            return error(400, "malformed percent-encoding in the path");
        }
        return endpoint_drain(*cluster, *address, parts[4] == "drain");
    }
    return error(404, "no such admin endpoint");
}

AdminResponse AdminApi::reload() {
    if (!state_.reload) {
        return error(503, "reload is not available");
    }
    const ReloadOutcome outcome = state_.reload();
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    if (outcome.status != 200) {
        w.key("error");
        w.string(outcome.status == 422 ? "the new configuration was rejected; the running one "
                                         "stays"
                                       : "reload refused");
    }
    w.key("ok");
    w.boolean(outcome.status == 200);
    w.key("hash");
    w.string(outcome.hash);
    w.key("errors");
    w.begin_array();
    for (const auto& e : outcome.errors) {
        w.string(e);
    }
    w.end_array();
    w.end_object();
    body.push_back('\n');
    return {.status = outcome.status, .body = std::move(body)};
}

AdminResponse AdminApi::endpoint_drain(const std::string& cluster, const std::string& address,
                                       bool drain) {
    const auto view = state_.view();
    const auto it = view.clusters.find(cluster);
    if (it == view.clusters.end()) {
        return error(404, "no cluster named \"" + cluster + "\"");
    }
    std::size_t changed = 0;
    for (const auto& ep : it->second->endpoints) {
        // The resolved address, or the configured label (a hostname: all its addresses).
        if (upstream::address_string(ep.address) == address || ep.label == address) {
            ep.health->set_draining(drain);
            ++changed;
        }
    }
    if (changed == 0) {
        return error(404, "cluster \"" + cluster + "\" has no endpoint \"" + address + "\"");
    }
    log::info("admin: {} {} endpoint(s) {} of cluster {}", drain ? "drained" : "undrained", changed,
              address, cluster);
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.key("cluster");
    w.string(cluster);
    w.key("endpoint");
    w.string(address);
    w.key("draining");
    w.boolean(drain);
    w.key("endpoints");
    w.number(static_cast<std::uint64_t>(changed));
    w.end_object();
    body.push_back('\n');
    return {.body = std::move(body)};
}

}  // namespace usher::admin
