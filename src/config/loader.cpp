#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include "config/admin_reader.hpp"
#include "config/balancer_reader.hpp"
#include "config/resilience_reader.hpp"
#include "config/route_reader.hpp"
#include "config/syntax.hpp"
#include "config/tls_reader.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config {
namespace {

using detail::Field;
using detail::Reader;

const std::vector<std::string> kTopKeys{"workers",  "log_level", "access_log", "drain_timeout",
                                        "timeouts", "limits",    "proxy",      "listeners",
                                        "routes",   "clusters",  "admin"};
const std::vector<std::string> kLimitKeys{"max_request_line", "max_header_bytes",
                                          "max_header_count", "max_body", "allow_bare_lf"};
const std::vector<std::string> kProxyKeys{"trusted_proxies", "forwarded", "via", "preserve_host",
                                          "hide_response_headers"};
const std::vector<std::string> kListenerKeys{"address",
                                             "name",
                                             "backlog",
                                             "max_connections",
                                             "tls",
                                             "redirect_to_https",
                                             "redirect_https_port",
                                             "hsts",
                                             "http2"};
const std::vector<std::string> kClusterKeys{"endpoints",
                                            "balancer",
                                            "pool",
                                            "health_check",
                                            "outlier_detection",
                                            "panic",
                                            "slow_start",
                                            "circuit_breaker",
                                            "retry_budget",
                                            "resolve_interval",
                                            "tls",
                                            "protocol"};
const std::vector<std::string> kEndpointKeys{"address", "weight", "drain"};
const std::vector<std::string> kHealthCheckKeys{"type",
                                                "path",
                                                "method",
                                                "host",
                                                "expected_statuses",
                                                "body_contains",
                                                "interval",
                                                "jitter",
                                                "timeout",
                                                "healthy_threshold",
                                                "unhealthy_threshold"};
const std::vector<std::string> kPoolKeys{"max_idle", "idle_timeout", "max_requests"};

constexpr std::uint64_t kMaxWorkers = 1024;
constexpr std::uint64_t kMaxWeight = 1000;
constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

class Loader {
  public:
    Loader(std::string source, std::vector<Diagnostic>& errors)
        : source_(source), r_(std::move(source), errors) {}

    std::shared_ptr<Config> load(const Field& root) {
        auto config = std::make_shared<Config>();
        config->source = source_;
        if (!r_.mapping(root, kTopKeys)) {
            return config;
        }
        read_globals(root, *config);
        if (const auto listeners = r_.require(root, "listeners")) {
            read_listeners(*listeners, *config);
        }
        if (const auto clusters = r_.get(root, "clusters")) {
            read_clusters(*clusters, *config);
        }
        if (const auto admin = r_.get(root, "admin")) {
            detail::read_admin(r_, *admin, *config);
        }
        detail::RouteContext ctx{r_, listener_names_, cluster_names_};
        if (const auto routes = r_.get(root, "routes")) {
            config->routes = detail::read_routes(ctx, *routes);
            if (config->routes.empty() && (routes->node.IsSequence() || routes->node.IsNull())) {
                r_.error(*routes, "no routes: every request would get 404");
            }
        } else if (cluster_names_.size() == 1) {
            // The one obvious thing to do: send everything to the only cluster.
            Route route;
            route.name = "default";
            route.cluster = cluster_names_.front();
            config->routes.push_back(std::move(route));
        } else {
            r_.error(root, cluster_names_.empty()
                               ? "no routes: every request would get 404 (add routes and clusters)"
                               : "no routes: every request would get 404 (add routes, or keep "
                                 "exactly one cluster to route everything to it)");
        }
        return config;
    }

  private:
    void read_globals(const Field& root, Config& c) {
        if (const auto f = r_.get(root, "workers")) {
            c.workers = read_workers(*f);
        }
        if (const auto f = r_.get(root, "log_level")) {
            c.log_level = r_.choice<LogLevel>(*f, {{"trace", LogLevel::trace},
                                                   {"debug", LogLevel::debug},
                                                   {"info", LogLevel::info},
                                                   {"warn", LogLevel::warn},
                                                   {"error", LogLevel::error},
                                                   {"off", LogLevel::off}})
                              .value_or(c.log_level);
        }
        if (const auto f = r_.get(root, "access_log")) {
            read_access_log(*f, c.access_log);
        }
        if (const auto f = r_.get(root, "drain_timeout")) {
            c.drain_timeout = r_.duration(*f, true).value_or(c.drain_timeout);
        }
        if (const auto f = r_.get(root, "timeouts")) {
            TimeoutOverrides t;
            detail::read_timeout_overrides(r_, *f, t);
            c.timeouts = t.apply(c.timeouts);
        }
        if (const auto f = r_.get(root, "limits")) {
            read_limits(*f, c.limits);
        }
        if (const auto f = r_.get(root, "proxy")) {
            read_proxy(*f, c.proxy);
        }
    }

    unsigned read_workers(const Field& f) {
        if (f.node.IsScalar() && f.node.Scalar() == "auto") {
            return 0;
        }
        const std::string& s = f.node.IsScalar() ? f.node.Scalar() : std::string();
        const bool digits =
            !s.empty() && s.size() < 6 &&
            std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (!digits || std::stoul(s) < 1 || std::stoul(s) > kMaxWorkers) {
            r_.error(f, "expected \"auto\" or a number from 1 to " + std::to_string(kMaxWorkers) +
                            (f.node.IsScalar() ? ", got \"" + s + "\"" : ""));
            return 0;
        }
        return static_cast<unsigned>(std::stoul(s));
    }

    void read_access_log(const Field& f, AccessLog& log) {
        if (!r_.mapping(f, {"path", "format"})) {
            return;
        }
        log.path = "-";  // a present access_log block without a path logs to stdout
        if (const auto p = r_.get(f, "path")) {
            if (const auto s = r_.string(*p)) {
                if (s->empty()) {
                    r_.error(*p, "empty path (use off, - for stdout, or a file name)");
                }
                log.path = *s;
            }
        }
        if (const auto fmt = r_.get(f, "format")) {
            log.format = r_.choice<AccessLogFormat>(*fmt, {{"combined", AccessLogFormat::combined},
                                                           {"json", AccessLogFormat::json}})
                             .value_or(log.format);
        }
    }

    void read_limits(const Field& f, Limits& l) {
        if (!r_.mapping(f, kLimitKeys)) {
            return;
        }
        if (const auto v = r_.get(f, "max_request_line")) {
            l.max_request_line = r_.size(*v, false).value_or(l.max_request_line);
        }
        if (const auto v = r_.get(f, "max_header_bytes")) {
            l.max_header_bytes = r_.size(*v, false).value_or(l.max_header_bytes);
        }
        if (const auto v = r_.get(f, "max_header_count")) {
            l.max_header_count = r_.integer(*v, 1, kUnbounded).value_or(l.max_header_count);
        }
        if (const auto v = r_.get(f, "max_body")) {
            l.max_body = r_.size(*v, true).value_or(l.max_body);
        }
        if (const auto v = r_.get(f, "allow_bare_lf")) {
            l.allow_bare_lf = r_.boolean(*v).value_or(l.allow_bare_lf);
        }
    }

    void read_proxy(const Field& f, ProxyOptions& p) {
        if (!r_.mapping(f, kProxyKeys)) {
            return;
        }
        if (const auto v = r_.get(f, "trusted_proxies")) {
            p.trusted_proxies.clear();
            for (const Field& item : r_.strings(*v).value_or(std::vector<Field>{})) {
                std::string why;
                if (const auto cidr = normalize_cidr(item.node.Scalar(), &why)) {
                    p.trusted_proxies.push_back(*cidr);
                } else {
                    r_.error(item, why);
                }
            }
        }
        if (const auto v = r_.get(f, "forwarded")) {
            p.forwarded = r_.boolean(*v).value_or(p.forwarded);
        }
        if (const auto v = r_.get(f, "via")) {
            p.via = r_.boolean(*v).value_or(p.via);
        }
        if (const auto v = r_.get(f, "preserve_host")) {
            p.preserve_host = r_.boolean(*v).value_or(p.preserve_host);
        }
        if (const auto v = r_.get(f, "hide_response_headers")) {
            p.hide_response_headers.clear();
            for (const Field& item : r_.strings(*v).value_or(std::vector<Field>{})) {
                if (!is_token(item.node.Scalar())) {
                    r_.error(item, "invalid header name \"" + item.node.Scalar() + "\"");
                }
                p.hide_response_headers.push_back(item.node.Scalar());
            }
        }
    }

    void read_listeners(const Field& f, Config& c) {
        const auto items = r_.list(f);
        if (!items) {
            return;
        }
        if (items->empty()) {
            r_.error(f, "at least one listener is required");
            return;
        }
        std::map<std::string, std::string> addresses;  // address -> path of its listener
        std::map<std::string, std::string> names;
        for (const Field& item : *items) {
            if (!r_.mapping(item, kListenerKeys)) {
                continue;
            }
            Listener l;
            const auto address = r_.require(item, "address");
            bool address_ok = false;
            if (address) {
                if (const auto s = r_.string(*address)) {
                    std::string why;
                    if (const auto a = parse_socket_address(*s, true, &why)) {
                        l.address = *a;
                        address_ok = true;
                        // Port 0 (kernel picks) never collides.
                        const auto [it, inserted] = addresses.emplace(a->to_string(), item.path);
                        if (!inserted && a->port != 0) {
                            r_.error(*address, "duplicate listener address " + a->to_string() +
                                                   " (also used by " + it->second + ")");
                        }
                    } else {
                        r_.error(*address, why);
                    }
                }
            }
            const auto name = r_.get(item, "name");
            if (name) {
                if (const auto s = r_.string(*name)) {
                    if (s->empty()) {
                        r_.error(*name, "must not be empty");
                    }
                    l.name = *s;
                }
            } else if (address_ok) {
                l.name = l.address.to_string();
            }
            if (!l.name.empty()) {
                const auto [it, inserted] = names.emplace(l.name, item.path);
                if (!inserted && name) {
                    r_.error(*name, "duplicate listener name \"" + l.name + "\" (also used by " +
                                        it->second + ")");
                }
                listener_names_.push_back(l.name);
            }
            if (const auto v = r_.get(item, "backlog")) {
                l.backlog = static_cast<int>(
                    r_.integer(*v, 1, 65535).value_or(static_cast<std::uint64_t>(l.backlog)));
            }
            if (const auto v = r_.get(item, "max_connections")) {
                l.max_connections = r_.integer(*v, 0, kUnbounded).value_or(l.max_connections);
            }
            detail::read_listener_tls(r_, item, source_, l);
            c.listeners.push_back(std::move(l));
        }
    }

    void read_clusters(const Field& f, Config& c) {
        for (const auto& [key, value] :
             r_.entries(f).value_or(std::vector<std::pair<Field, Field>>{})) {
            const std::string& name = key.node.Scalar();
            cluster_names_.push_back(name);  // even if invalid: avoids "unknown cluster" noise
            if (!is_identifier(name)) {
                r_.error(key, "invalid cluster name \"" + name +
                                  "\" (use letters, digits, '_', '.' and '-')");
            }
            Cluster cluster;
            cluster.name = name;
            if (!r_.mapping(value, kClusterKeys)) {
                continue;
            }
            std::optional<Field> plain_http;  // the first http:// endpoint, if any
            if (const auto e = r_.require(value, "endpoints")) {
                plain_http = read_endpoints(*e, cluster);
            }
            detail::read_cluster_tls(r_, value, source_, plain_http, cluster);
            if (const auto p = r_.get(value, "protocol")) {
                cluster.protocol =
                    r_.choice<UpstreamProtocol>(
                          *p, {{"http1", UpstreamProtocol::http1}, {"h2", UpstreamProtocol::h2}})
                        .value_or(cluster.protocol);
                if (cluster.tls) {
                    cluster.tls->http2 = cluster.protocol == UpstreamProtocol::h2;
                }
            }
            if (const auto b = r_.get(value, "balancer")) {
                detail::read_balancer(r_, *b, cluster);
            }
            if (const auto p = r_.get(value, "pool")) {
                read_pool(*p, cluster.pool);
            }
            if (const auto h = r_.get(value, "health_check")) {
                read_health_check(*h, cluster);
                if (cluster.protocol == UpstreamProtocol::h2 && cluster.health_check &&
                    cluster.health_check->kind == HealthCheckKind::http) {
                    r_.error(*h,
                             "http health checks speak HTTP/1.1, which an h2 cluster's backends "
                             "may refuse: use type: tcp");
                }
            }
            detail::read_cluster_resilience(r_, value, cluster);
            c.clusters.emplace(name, std::move(cluster));
        }
    }

    // Reads the endpoints; an https:// endpoint turns TLS on for the cluster (cluster.tls).
    // http:// and https:// in one cluster is an error on the endpoint that differs from the
    // first. Returns the first http:// endpoint's field (a `tls` key conflicts with it).
    std::optional<Field> read_endpoints(const Field& f, Cluster& cluster) {
        const auto items = r_.list(f);
        if (!items) {
            return std::nullopt;
        }
        if (items->empty()) {
            r_.error(f, "a cluster needs at least one endpoint");
            return std::nullopt;
        }
        std::optional<Field> first_http;
        std::optional<std::pair<EndpointScheme, std::string>> first_scheme;
        for (const Field& item : *items) {
            Endpoint e;
            std::optional<Field> address;
            if (item.node.IsScalar()) {
                address.emplace(item);
            } else if (item.node.IsMap()) {
                if (!r_.mapping(item, kEndpointKeys)) {
                    continue;
                }
                address = r_.require(item, "address");
                if (const auto w = r_.get(item, "weight")) {
                    e.weight =
                        static_cast<std::uint32_t>(r_.integer(*w, 1, kMaxWeight).value_or(1));
                }
                if (const auto d = r_.get(item, "drain")) {
                    e.drain = r_.boolean(*d).value_or(e.drain);
                }
            } else {
                r_.error(item,
                         "expected \"host:port\" or a mapping with address, weight and drain");
                continue;
            }
            if (!address) {
                continue;
            }
            if (const auto s = r_.string(*address)) {
                std::string why;
                EndpointScheme scheme = EndpointScheme::none;
                if (const auto a = parse_endpoint_address(*s, &why, &scheme)) {
                    e.address = *a;
                    check_scheme(*address, *s, scheme, first_scheme, cluster);
                    if (scheme == EndpointScheme::http && !first_http) {
                        first_http = *address;
                    }
                } else {
                    r_.error(*address, why);
                }
            }
            cluster.endpoints.push_back(e);
        }
        return first_http;
    }

    void check_scheme(const Field& at, const std::string& text, EndpointScheme scheme,
                      std::optional<std::pair<EndpointScheme, std::string>>& first,
                      Cluster& cluster) {
        if (scheme == EndpointScheme::none) {
            return;
        }
        if (scheme == EndpointScheme::https && !cluster.tls) {
            cluster.tls.emplace();
        }
        if (!first) {
            first.emplace(scheme, text);
        } else if (first->first != scheme) {
            r_.error(at, "endpoint \"" + text + "\" mixes " +
                             (scheme == EndpointScheme::https ? "https:// with http://"
                                                              : "http:// with https://") +
                             " (\"" + first->second +
                             "\"): a cluster's endpoints are all plain HTTP or all TLS");
        }
    }

    void read_health_check(const Field& f, Cluster& cluster) {
        if (!r_.mapping(f, kHealthCheckKeys)) {
            return;
        }
        HealthCheck h;
        if (const auto v = r_.get(f, "type")) {
            h.kind = r_.choice<HealthCheckKind>(
                           *v, {{"http", HealthCheckKind::http}, {"tcp", HealthCheckKind::tcp}})
                         .value_or(h.kind);
        }
        if (const auto v = r_.get(f, "path")) {
            const auto path = r_.string(*v).value_or(h.path);
            if (path.empty() || path.front() != '/' ||
                path.find_first_of(" \t\r\n") != std::string::npos) {
                r_.error(*v, "health check path must start with '/' and contain no whitespace");
            }
            h.path = path;
        }
        if (const auto v = r_.get(f, "method")) {
            const auto method = r_.string(*v).value_or(h.method);
            if (!is_token(method)) {
                r_.error(*v, "invalid method \"" + method + "\"");
            }
            h.method = method;
        }
        if (const auto v = r_.get(f, "host")) {
            h.host = r_.string(*v).value_or(h.host);
        }
        if (const auto v = r_.get(f, "expected_statuses")) {
            h.expected_statuses.clear();
            for (const Field& item : r_.strings(*v).value_or(std::vector<Field>{})) {
                std::string why;
                if (const auto range = parse_status_range(item.node.Scalar(), &why)) {
                    h.expected_statuses.push_back(*range);
                } else {
                    r_.error(item, why);
                }
            }
        }
        if (const auto v = r_.get(f, "body_contains")) {
            h.body_contains = r_.string(*v).value_or(h.body_contains);
        }
        if (const auto v = r_.get(f, "interval")) {
            h.interval = r_.duration(*v, false).value_or(h.interval);
        }
        if (const auto v = r_.get(f, "jitter")) {
            h.jitter = r_.duration(*v, true).value_or(h.jitter);
        }
        if (const auto v = r_.get(f, "timeout")) {
            h.timeout = r_.duration(*v, false).value_or(h.timeout);
        }
        if (const auto v = r_.get(f, "healthy_threshold")) {
            h.healthy_threshold = r_.integer(*v, 1, 1000).value_or(h.healthy_threshold);
        }
        if (const auto v = r_.get(f, "unhealthy_threshold")) {
            h.unhealthy_threshold = r_.integer(*v, 1, 1000).value_or(h.unhealthy_threshold);
        }
        cluster.health_check = std::move(h);
    }

    void read_pool(const Field& f, Pool& pool) {
        if (!r_.mapping(f, kPoolKeys)) {
            return;
        }
        if (const auto v = r_.get(f, "max_idle")) {
            pool.max_idle = r_.integer(*v, 0, kUnbounded).value_or(pool.max_idle);
        }
        if (const auto v = r_.get(f, "idle_timeout")) {
            pool.idle_timeout = r_.duration(*v, false).value_or(pool.idle_timeout);
        }
        if (const auto v = r_.get(f, "max_requests")) {
            pool.max_requests = r_.integer(*v, 0, kUnbounded).value_or(pool.max_requests);
        }
    }

    std::string source_;
    Reader r_;
    std::vector<std::string> listener_names_;
    std::vector<std::string> cluster_names_;
};

int one_based(int zero_based) {
    return zero_based >= 0 ? zero_based + 1 : 1;
}

}  // namespace

std::string Diagnostic::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    out += ": ";
    if (!path.empty()) {
        out += path + ": ";
    }
    return out + message;
}

LoadResult load_string(std::string_view yaml, std::string source_name) {
    LoadResult result;
    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(std::string(yaml));
    } catch (const YAML::Exception& e) {
        result.errors.push_back(Diagnostic{source_name, one_based(e.mark.line),
                                           one_based(e.mark.column), "",
                                           "YAML syntax error: " + e.msg});
        return result;
    }
    if (documents.size() > 1) {
        const YAML::Mark m = documents[1].Mark();
        result.errors.push_back(Diagnostic{source_name, one_based(m.line), one_based(m.column), "",
                                           "only one YAML document per file is allowed"});
    }
    const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
    auto config = Loader(source_name, result.errors).load(detail::root_field(root));
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                         return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    if (result.errors.empty()) {
        config->text = std::string(yaml);
        result.config = std::move(config);
    }
    return result;
}

LoadResult load_file(const std::string& path) {
    LoadResult result;
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        result.errors.push_back(
            Diagnostic{path, 0, 0, "", std::string("cannot open: ") + std::strerror(errno)});
        return result;
    }
    std::string text;
    char buf[8192];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
        text.append(buf, n);
    }
    const bool failed = std::ferror(file) != 0;
    const int err = errno;
    std::fclose(file);
    if (failed) {
        result.errors.push_back(
            Diagnostic{path, 0, 0, "", std::string("cannot read: ") + std::strerror(err)});
        return result;
    }
    return load_string(text, path);
}

std::string summary(const Config& config) {
    const auto count = [](std::size_t n, const char* word) {
        return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
    };
    std::size_t endpoints = 0;
    for (const auto& [name, cluster] : config.clusters) {
        endpoints += cluster.endpoints.size();
    }
    return count(config.listeners.size(), "listener") + ", " +
           count(config.routes.size(), "route") + ", " + count(config.clusters.size(), "cluster") +
           " (" + count(endpoints, "endpoint") + ")";
}

}  // namespace usher::config
