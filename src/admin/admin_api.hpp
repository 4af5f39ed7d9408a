#pragma once
// AdminApi: the admin endpoints as a function from a request to a response (no sockets: the
// AdminServer reads and writes, tests call handle() directly).
//   GET  /healthz                                   200 while the process runs (no token needed)
//   GET  /ready                                     200 ready; 503 starting or draining
//   GET  /status                                    JSON (docs/operations.md)
//   GET  /config                                    the running config as YAML, secrets redacted
//   GET  /metrics                                   Prometheus text format
//   GET  /                                          the dashboard page
//   POST /config/reload                             200 applied; 422 rejected (errors listed)
//   POST /clusters/{name}/endpoints/{addr}/drain    200; 404 unknown cluster or endpoint
//   POST /clusters/{name}/endpoints/{addr}/undrain
// With a token configured, every path but /healthz and the (static) dashboard page needs
// `Authorization: Bearer <token>` (401 otherwise). A known path with another method gets 405 with
// Allow; an unknown path 404. Every error body is {"error": "..."}.
#include <string>

#include "admin/admin_state.hpp"

namespace usher::admin {

struct AdminRequest {
    std::string method;
    std::string target;         // path and query as received
    std::string authorization;  // the Authorization header ("" if absent)
};

struct AdminResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::string allow;  // 405: the allowed methods
    bool www_authenticate = false;
};

class AdminApi {
  public:
    AdminApi(AdminState& state, std::string token);
    AdminResponse handle(const AdminRequest& request);

  private:
    AdminResponse endpoint_drain(const std::string& cluster, const std::string& address,
                                 bool drain);
    AdminResponse reload();
    bool authorized(const AdminRequest& request) const;

    AdminState& state_;
    std::string token_;
};

// Decodes %XX escapes (for endpoint addresses like %5B::1%5D:80); nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace usher::admin
