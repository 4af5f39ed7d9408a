#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace usher::config {
namespace {

using namespace std::chrono_literals;

// Test YAML is written as R"(...)" starting on the line after the opening quote; drop that first
// newline so line numbers in the test match the text as shown.
std::string text(std::string_view yaml) {
    if (!yaml.empty() && yaml.front() == '\n') {
        yaml.remove_prefix(1);
    }
    return std::string(yaml);
}

std::vector<std::string> errors_of(std::string_view yaml) {
    const LoadResult result = load_string(text(yaml), "usher.yaml");
    std::vector<std::string> out;
    for (const Diagnostic& d : result.errors) {
        out.push_back(d.to_string());
    }
    EXPECT_EQ(result.ok(), out.empty());
    return out;
}

using Errors = std::vector<std::string>;

// The smallest valid head most error tests build on (2 lines).
constexpr std::string_view kListener = "listeners:\n  - address: 127.0.0.1:8080\n";

std::string with_listener(std::string_view rest) {
    return std::string(kListener) + text(rest);
}

// ---- Valid files -------------------------------------------------------------------------------

TEST(ConfigLoader, LoadsTheDemoExample) {
    const LoadResult r = load_file(std::string(USHER_SOURCE_DIR) + "/examples/demo.yaml");
    ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
    const Config& c = *r.config;
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].address.to_string(), "127.0.0.1:8080");
    ASSERT_EQ(c.clusters.count("demo"), 1u);
    const Cluster& demo = c.clusters.at("demo");
    ASSERT_EQ(demo.endpoints.size(), 2u);
    EXPECT_EQ(demo.endpoints[0].address.to_string(), "127.0.0.1:9001");
    EXPECT_EQ(demo.endpoints[1].address.to_string(), "127.0.0.1:9002");
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_EQ(c.routes[0].cluster, "demo");
    EXPECT_EQ(summary(c), "1 listener, 1 route, 1 cluster (2 endpoints)");
}

TEST(ConfigLoader, LoadsTheFullExample) {
    const std::string path = std::string(USHER_SOURCE_DIR) + "/examples/usher.yaml";
    const LoadResult r = load_file(path);
    ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().to_string());
    const Config& c = *r.config;
    EXPECT_EQ(c.source, path);
    EXPECT_EQ(summary(c), "2 listeners, 5 routes, 2 clusters (4 endpoints)");
    EXPECT_EQ(c.workers, 0u);
    EXPECT_TRUE(c.access_log.enabled());
    EXPECT_EQ(c.access_log.path, "-");
    EXPECT_EQ(c.proxy.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "fd00::/8"}));
    EXPECT_EQ(c.listeners[1].address.host, "::1");
    EXPECT_EQ(c.listeners[1].address.to_string(), "[::1]:8081");

    const Route& health = c.routes[0];
    EXPECT_EQ(health.name, "health");
    ASSERT_TRUE(health.respond.has_value());
    EXPECT_EQ(health.respond->body, "ok\n");
    EXPECT_EQ(health.match.path->kind, StringMatchKind::exact);

    const Route& docs = c.routes[1];
    ASSERT_TRUE(docs.redirect.has_value());
    EXPECT_EQ(docs.redirect->status, 308);
    EXPECT_EQ(docs.match.path->kind, StringMatchKind::prefix);
    EXPECT_EQ(docs.match.path->value, "/docs/v1");

    const Route& api = c.routes[2];
    EXPECT_EQ(api.cluster, "api");
    EXPECT_EQ(api.match.hosts, (std::vector<std::string>{"api.example.com", "*.api.example.com"}));
    EXPECT_EQ(api.match.methods.size(), 4u);
    ASSERT_EQ(api.match.headers.size(), 2u);
    EXPECT_EQ(api.match.headers[1].match.kind, StringMatchKind::regex);
    EXPECT_EQ(api.match.listeners, std::vector<std::string>{"web"});
    EXPECT_EQ(api.rewrite.strip_prefix, "/api");
    EXPECT_EQ(api.rewrite.replace_prefix, "/v1");
    EXPECT_EQ(api.request_headers.set.size(), 1u);
    EXPECT_EQ(api.request_headers.remove, std::vector<std::string>{"X-Debug"});
    EXPECT_EQ(api.max_body, 10u * 1024 * 1024);
    const Timeouts t = api.timeouts.apply(c.timeouts);
    EXPECT_EQ(t.upstream_header, 5s);
    EXPECT_EQ(t.total, 2min);
    EXPECT_EQ(t.connect, 5s);
    ASSERT_TRUE(api.retry.has_value());
    EXPECT_EQ(api.retry->on_statuses, std::vector<std::uint16_t>{503});
    EXPECT_EQ(api.retry->per_try_timeout, 2s);

    EXPECT_EQ(c.routes[3].match.cookies[0].match.kind, StringMatchKind::present);
    EXPECT_EQ(c.routes[3].match.query[0].match.value, "2");
    ASSERT_TRUE(c.routes[3].retry.has_value());
    EXPECT_EQ(c.routes[3].retry->retries, 1u);
    EXPECT_FALSE(c.routes[4].retry.has_value());

    const Cluster& apic = c.clusters.at("api");
    EXPECT_EQ(apic.endpoints[1].weight, 2u);
    EXPECT_FALSE(apic.endpoints[1].drain);
    ASSERT_TRUE(apic.outlier_detection.has_value());
    EXPECT_EQ(apic.outlier_detection->consecutive_failures, 5u);
    EXPECT_EQ(apic.panic, PanicMode::spread);
    EXPECT_EQ(apic.slow_start, 30s);
    EXPECT_EQ(apic.circuit_breaker.max_pending, 100u);
    EXPECT_EQ(apic.retry_budget.percent, 20u);
    const Cluster& web = c.clusters.at("web");
    EXPECT_EQ(web.endpoints[0].address.to_string(), "127.0.0.1:9101");
    EXPECT_EQ(web.endpoints[1].address.host, "localhost");
    EXPECT_EQ(web.resolve_interval, 30s);
}

TEST(ConfigLoader, AppliesDefaultsFromLimits) {
    const LoadResult r = load_string(with_listener(R"(
clusters:
  only: { endpoints: [127.0.0.1:9001] }
)"),
                                     "min.yaml");
    ASSERT_TRUE(r.ok());
    const Config& c = *r.config;
    EXPECT_EQ(c.workers, 0u);
    EXPECT_EQ(c.log_level, LogLevel::info);
    EXPECT_FALSE(c.access_log.enabled());
    EXPECT_EQ(c.drain_timeout, limits::kDrainTimeout);
    EXPECT_EQ(c.timeouts.connect, limits::kConnectTimeout);
    EXPECT_EQ(c.timeouts.request_header, limits::kRequestHeaderTimeout);
    EXPECT_EQ(c.timeouts.client_idle, limits::kClientIdleTimeout);
    EXPECT_EQ(c.timeouts.upstream_header, limits::kUpstreamHeaderTimeout);
    EXPECT_EQ(c.timeouts.upstream_idle, limits::kUpstreamIdleTimeout);
    EXPECT_EQ(c.timeouts.total, limits::kTotalTimeout);
    EXPECT_EQ(c.limits.max_request_line, limits::kMaxRequestLine);
    EXPECT_EQ(c.limits.max_header_bytes, limits::kMaxHeaderBytes);
    EXPECT_EQ(c.limits.max_header_count, limits::kMaxHeaderCount);
    EXPECT_EQ(c.limits.max_body, limits::kMaxBodyBytes);
    EXPECT_FALSE(c.limits.allow_bare_lf);
    EXPECT_TRUE(c.proxy.via);
    EXPECT_TRUE(c.proxy.preserve_host);
    EXPECT_FALSE(c.proxy.forwarded);
    EXPECT_EQ(c.proxy.hide_response_headers, (std::vector<std::string>{"Server", "X-Powered-By"}));
    EXPECT_EQ(c.listeners[0].name, "127.0.0.1:8080");
    EXPECT_EQ(c.listeners[0].backlog, limits::kListenBacklog);
    const Cluster& only = c.clusters.at("only");
    EXPECT_EQ(only.pool.max_idle, limits::kPoolMaxIdle);
    EXPECT_EQ(only.pool.idle_timeout, limits::kPoolIdleTimeout);
    EXPECT_EQ(only.endpoints[0].weight, 1u);
}

TEST(ConfigLoader, ImpliesACatchAllRouteToTheOnlyCluster) {
    const LoadResult r = load_string(with_listener(R"(
clusters:
  only: { endpoints: ["http://backend:8000/"] }
)"),
                                     "x.yaml");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.config->routes.size(), 1u);
    EXPECT_EQ(r.config->routes[0].name, "default");
    EXPECT_EQ(r.config->routes[0].cluster, "only");
    EXPECT_EQ(r.config->clusters.at("only").endpoints[0].address.to_string(), "backend:8000");
}

TEST(ConfigLoader, ListenerWithoutHostBindsAllAddresses) {
    const LoadResult r = load_string(R"(
listeners: [{ address: ":8080" }]
routes: [{ respond: { status: 204 } }]
)",
                                     "x.yaml");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config->listeners[0].address.to_string(), "0.0.0.0:8080");
    EXPECT_EQ(r.config->routes[0].name, "route[0]");
}

TEST(ConfigLoader, ListenersOnPortZeroAreNotDuplicates) {
    const LoadResult r = load_string(R"(
listeners: [{ address: "127.0.0.1:0", name: a }, { address: "127.0.0.1:0", name: b }]
routes: [{ respond: {} }]
)",
                                     "x.yaml");
    ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
    EXPECT_EQ(r.config->listeners[1].address.port, 0);
}

// ---- The example from the issue and error collection -------------------------------------------

TEST(ConfigLoader, ReportsEndpointPortOutOfRangeAsInTheIssue) {
    EXPECT_EQ(errors_of(R"(
# usher config
workers: 2
listeners:
  - address: 127.0.0.1:8080
    name: web

routes:
  - cluster: api

clusters:
  api:
    endpoints:
    - 127.0.0.1:9001
    - 127.0.0.1:99999
)"),
              Errors{"usher.yaml:14:7: clusters.api.endpoints[1]: port 99999 is out of range "
                     "(1-65535)"});
}

TEST(ConfigLoader, CollectsEveryErrorInOneFile) {
    EXPECT_EQ(errors_of(R"(
listeners:
  - address: 127.0.0.1:8080
    bakclog: 10
timeouts:
  connect: 5x
clusters:
  api:
    endpoints: [127.0.0.1:0]
)"),
              (Errors{
                  "usher.yaml:3:5: listeners[0].bakclog: unknown key \"bakclog\" (did you mean "
                  "'backlog'?)",
                  "usher.yaml:5:12: timeouts.connect: unknown unit \"x\" (use ms, s, m or h)",
                  "usher.yaml:8:17: clusters.api.endpoints[0]: port 0 is out of range (1-65535)",
              }));
}

TEST(ConfigLoader, ReportsYamlSyntaxErrorsWithPosition) {
    EXPECT_EQ(errors_of("listeners:\n  - address: [127.0.0.1:8080\nroutes: []\n"),
              Errors{"usher.yaml:3:7: YAML syntax error: end of sequence flow not found"});
}

TEST(ConfigLoader, ReportsAMissingFile) {
    const LoadResult r = load_file("/nonexistent/usher.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.errors[0].to_string(),
              "/nonexistent/usher.yaml: cannot open: No such file or directory");
}

TEST(ConfigLoader, RejectsADirectoryAsFile) {
    const LoadResult r = load_file(USHER_TEST_DATA);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              std::string(USHER_TEST_DATA) + ": cannot read: Is a directory");
}

TEST(ConfigLoader, LoadsATestDataFileAndReportsItsName) {
    const std::string path = std::string(USHER_TEST_DATA) + "/config/three_errors.yaml";
    const LoadResult r = load_file(path);
    ASSERT_EQ(r.errors.size(), 3u);
    EXPECT_EQ(r.errors[0].to_string(),
              path + ":3:1: worker: unknown key \"worker\" (did you mean 'workers'?)");
    EXPECT_EQ(r.errors[1].to_string(),
              path + ":8:10: timeouts.total: negative durations are not allowed");
    EXPECT_EQ(r.errors[2].to_string(),
              path + ":13:9: clusters.app.endpoints[0]: port 70000 is out of range (1-65535)");
}

// ---- Unknown keys ------------------------------------------------------------------------------

TEST(ConfigLoader, UnknownTopLevelKeyGetsAHint) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
drain_timout: 5s
)")),
              Errors{"usher.yaml:4:1: drain_timout: unknown key \"drain_timout\" (did you mean "
                     "'drain_timeout'?)"});
}

TEST(ConfigLoader, UnknownKeyHintByPrefix) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
limits: { max_header: 10 }
)")),
              Errors{"usher.yaml:4:11: limits.max_header: unknown key \"max_header\" (did you mean "
                     "'max_header_bytes'?)"});
}

TEST(ConfigLoader, UnknownKeyWithoutNearMissListsTheKnownKeys) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - respond: { status: 200, colour: red }
)")),
              Errors{"usher.yaml:4:29: routes[0].respond.colour: unknown key \"colour\" (expected "
                     "one of: status, body, content_type)"});
}

TEST(ConfigLoader, DuplicateKeysAreErrors) {
    EXPECT_EQ(
        errors_of(with_listener(R"(
routes: [{ respond: {} }]
log_level: info
log_level: debug
)")),
        Errors{"usher.yaml:5:1: log_level: duplicate key \"log_level\" (first set on line 4)"});
}

// ---- Types and values --------------------------------------------------------------------------

TEST(ConfigLoader, ExpectsAMapping) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
timeouts: 5s
)")),
              Errors{"usher.yaml:4:11: timeouts: expected a mapping, got \"5s\""});
}

TEST(ConfigLoader, ExpectsAListOfStrings) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match: { method: [GET, [POST]] }
    respond: {}
)")),
              Errors{"usher.yaml:4:28: routes[0].match.method[1]: expected a list of strings, got "
                     "a list in it"});
}

TEST(ConfigLoader, TopLevelMustBeAMapping) {
    EXPECT_EQ(errors_of("- a\n- b\n"), Errors{"usher.yaml:1:1: expected a mapping, got a list"});
}

TEST(ConfigLoader, EmptyFileNeedsListenersAndRoutes) {
    EXPECT_EQ(errors_of(""),
              (Errors{"usher.yaml:1:1: missing required key \"listeners\"",
                      "usher.yaml:1:1: no routes: every request would get 404 (add routes and "
                      "clusters)"}));
}

TEST(ConfigLoader, BadSize) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
limits:
  max_header_bytes: 64K
  max_body: lots
)")),
              (Errors{"usher.yaml:5:21: limits.max_header_bytes: ambiguous unit \"K\" (write KiB "
                      "for powers of 1024 or KB for powers of 1000)",
                      "usher.yaml:6:13: limits.max_body: \"lots\" is not a size (expected e.g. "
                      "512, 16KiB, 10MiB)"}));
}

TEST(ConfigLoader, ZeroIsOnlyAllowedForTheTotalTimeout) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
timeouts: { connect: 0, total: 0 }
)")),
              Errors{"usher.yaml:4:22: timeouts.connect: must be greater than 0"});
}

TEST(ConfigLoader, ListenerPortOutOfRange) {
    EXPECT_EQ(errors_of(R"(
listeners:
  - address: 127.0.0.1:65536
  - address: "localhost"
  - address: ::1:80
routes: [{ respond: {} }]
)"),
              (Errors{"usher.yaml:2:14: listeners[0].address: port 65536 is out of range (0-65535)",
                      "usher.yaml:3:14: listeners[1].address: missing port in \"localhost\" "
                      "(expected host:port or :port)",
                      "usher.yaml:4:14: listeners[2].address: IPv6 addresses need brackets, e.g. "
                      "\"[::1]:8080\""}));
}

TEST(ConfigLoader, MissingListeners) {
    EXPECT_EQ(errors_of(R"(
listeners: []
routes: [{ respond: {} }]
)"),
              Errors{"usher.yaml:1:12: listeners: at least one listener is required"});
}

TEST(ConfigLoader, UnknownEnumValueListsTheAllowedOnes) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
log_level: verbose
access_log: { format: xml }
)")),
              (Errors{"usher.yaml:4:12: log_level: unknown value \"verbose\" (expected one of: "
                      "trace, debug, info, warn, error, off)",
                      "usher.yaml:5:23: access_log.format: unknown value \"xml\" (expected one of: "
                      "combined, json)"}));
}

TEST(ConfigLoader, BalancerMustBeKnown) {
    EXPECT_EQ(errors_of(with_listener(R"(
clusters:
  a: { endpoints: [127.0.0.1:1], balancer: fastest }
)")),
              Errors{"usher.yaml:4:44: clusters.a.balancer: unknown balancer \"fastest\" (expected "
                     "one of: round_robin, least_request, random, ring_hash, maglev, cookie, "
                     "peak_ewma)"});
}

TEST(ConfigLoader, WorkersMustBeAutoOrANumber) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
workers: 0
)")),
              Errors{"usher.yaml:4:10: workers: expected \"auto\" or a number from 1 to 1024, got "
                     "\"0\""});
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
workers: many
)")),
              Errors{"usher.yaml:4:10: workers: expected \"auto\" or a number from 1 to 1024, got "
                     "\"many\""});
}

TEST(ConfigLoader, BooleansAreTrueOrFalse) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
proxy: { via: yes }
)")),
              Errors{"usher.yaml:4:15: proxy.via: expected true or false, got \"yes\""});
}

// ---- Clusters ----------------------------------------------------------------------------------

TEST(ConfigLoader, EmptyClusterIsAnError) {
    EXPECT_EQ(
        errors_of(with_listener(R"(
routes: [{ cluster: a }, { cluster: b }]
clusters:
  a: { endpoints: [] }
  b: {}
)")),
        (Errors{"usher.yaml:5:19: clusters.a.endpoints: a cluster needs at least one endpoint",
                "usher.yaml:6:6: clusters.b: missing required key \"endpoints\""}));
}

TEST(ConfigLoader, HttpsEndpointsTurnTlsOnAndOtherSchemesAreRejected) {
    EXPECT_EQ(errors_of(with_listener(R"(
clusters:
  a:
    endpoints:
      - https://127.0.0.1:9443
      - { address: "ftp://x:21", weight: 0 }
)")),
              (Errors{"usher.yaml:7:20: clusters.a.endpoints[1].address: unsupported scheme "
                      "\"ftp\" (use http://, https:// or host:port)",
                      "usher.yaml:7:42: clusters.a.endpoints[1].weight: 0 is out of range "
                      "(1-1000)"}));
}

TEST(ConfigLoader, ClusterNamesAreIdentifiers) {
    EXPECT_EQ(errors_of(with_listener(R"(
clusters:
  "my api": { endpoints: [127.0.0.1:1] }
)")),
              Errors{"usher.yaml:4:3: clusters.my api: invalid cluster name \"my api\" (use "
                     "letters, digits, '_', '.' and '-')"});
}

// ---- Routes ------------------------------------------------------------------------------------

TEST(ConfigLoader, RouteToUnknownClusterSuggestsTheClosestName) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - name: api
    cluster: apii
clusters:
  api: { endpoints: [127.0.0.1:9001] }
  web: { endpoints: [127.0.0.1:9002] }
)")),
              Errors{"usher.yaml:5:14: routes[0].cluster: unknown cluster \"apii\" (did you mean "
                     "'api'?)"});
}

TEST(ConfigLoader, RouteToUnknownClusterWithoutNearMissListsThem) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ cluster: zzzzzz }]
clusters:
  api: { endpoints: [127.0.0.1:9001] }
  web: { endpoints: [127.0.0.1:9002] }
)")),
              Errors{"usher.yaml:3:21: routes[0].cluster: unknown cluster \"zzzzzz\" (defined: "
                     "api, web)"});
}

TEST(ConfigLoader, RouteNeedsExactlyOneAction) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - name: none
    match: { path: /x }
  - name: two
    respond: { status: 200 }
    redirect: { to: /y }
)")),
              (Errors{"usher.yaml:4:5: routes[0]: route has no action (set one of: cluster, "
                      "redirect, respond)",
                      "usher.yaml:8:15: routes[1].redirect: a route has exactly one action, but "
                      "\"respond\" is also set"}));
}

TEST(ConfigLoader, RedirectStatusMustBeARedirect) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - redirect: { status: 303, to: "https://example.com/" }
  - redirect: { status: 301 }
)")),
              (Errors{"usher.yaml:4:25: routes[0].redirect.status: redirect status 303 is not one "
                      "of 301, 302, 307, 308",
                      "usher.yaml:5:15: routes[1].redirect: missing required key \"to\""}));
}

TEST(ConfigLoader, NoRoutesWithSeveralClustersIsAnError) {
    EXPECT_EQ(errors_of(with_listener(R"(
clusters:
  a: { endpoints: [127.0.0.1:1] }
  b: { endpoints: [127.0.0.1:2] }
)")),
              Errors{"usher.yaml:1:1: no routes: every request would get 404 (add routes, or keep "
                     "exactly one cluster to route everything to it)"});
    EXPECT_EQ(errors_of(with_listener(R"(
routes: []
clusters:
  a: { endpoints: [127.0.0.1:1] }
)")),
              Errors{"usher.yaml:3:9: routes: no routes: every request would get 404"});
}

TEST(ConfigLoader, InvalidRegexReportsRe2sReason) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match:
      path: { regex: "^/v(1" }
      headers: [ { name: User-Agent, regex: "a**" } ]
    respond: {}
)")),
              (Errors{"usher.yaml:5:22: routes[0].match.path.regex: invalid regex \"^/v(1\": "
                      "missing ): ^/v(1",
                      "usher.yaml:6:45: routes[0].match.headers[0].regex: invalid regex \"a**\": "
                      "bad repetition operator: **"}));
}

TEST(ConfigLoader, PathMatchesMustBeWellFormed) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match: { path: api }
    respond: {}
  - match: { path: { prefix: /a, exact: /b } }
    respond: {}
  - match: { path: {} }
    respond: {}
)")),
              (Errors{"usher.yaml:4:20: routes[0].match.path: path must start with \"/\", got "
                      "\"api\"",
                      "usher.yaml:6:41: routes[1].match.path.exact: set only one of prefix, "
                      "exact, regex (\"prefix\" is also set)",
                      "usher.yaml:8:20: routes[2].match.path: set one of prefix, exact, regex"}));
}

TEST(ConfigLoader, InvalidHostPattern) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match: { host: ["*.example.com", "api.*.com", "*"] }
    respond: {}
)")),
              (Errors{"usher.yaml:4:38: routes[0].match.host[1]: invalid host pattern "
                      "\"api.*.com\" (a hostname, or \"*.\" followed by one)",
                      "usher.yaml:4:51: routes[0].match.host[2]: invalid host pattern \"*\" (a "
                      "hostname, or \"*.\" followed by one)"}));
}

TEST(ConfigLoader, HeaderNamesMustBeTokens) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match:
      headers: [ { name: "X Env", equals: prod } ]
    respond: {}
    response_headers:
      set: { "Bad:Name": x }
      remove: [ "a b" ]
)")),
              (Errors{"usher.yaml:5:26: routes[0].match.headers[0].name: invalid name \"X Env\" "
                      "(letters, digits and !#$%&'*+-.^_`|~ only)",
                      "usher.yaml:8:14: routes[0].response_headers.set.Bad:Name: invalid header "
                      "name \"Bad:Name\" (letters, digits and !#$%&'*+-.^_`|~ only)",
                      "usher.yaml:9:17: routes[0].response_headers.remove[0]: invalid header "
                      "name \"a b\" (letters, digits and !#$%&'*+-.^_`|~ only)"}));
}

TEST(ConfigLoader, NamedMatchNeedsExactlyOneCondition) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match:
      cookies: [ { name: s }, { name: t, present: false } ]
    respond: {}
)")),
              (Errors{"usher.yaml:5:18: routes[0].match.cookies[0]: set one of equals, regex, "
                      "present",
                      "usher.yaml:5:51: routes[0].match.cookies[1].present: present: false is not "
                      "supported (leave the condition out)"}));
}

TEST(ConfigLoader, MethodsAreCaseSensitive) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - match: { method: get }
    respond: {}
)")),
              Errors{"usher.yaml:4:22: routes[0].match.method: methods are case-sensitive: did you "
                     "mean 'GET'?"});
}

TEST(ConfigLoader, RouteListenerMustExist) {
    EXPECT_EQ(errors_of(R"(
listeners:
  - { address: 127.0.0.1:8080, name: web }
routes:
  - match: { listener: [web, wbe] }
    respond: {}
)"),
              Errors{"usher.yaml:4:30: routes[0].match.listener[1]: unknown listener \"wbe\" (did "
                     "you mean 'web'?)"});
}

TEST(ConfigLoader, RewriteNeedsAClusterAndStripPrefix) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - respond: {}
    rewrite: { replace_prefix: /v1 }
)")),
              (Errors{"usher.yaml:5:14: routes[0].rewrite: rewrite applies only to routes with a "
                      "cluster",
                      "usher.yaml:5:32: routes[0].rewrite.replace_prefix: replace_prefix needs "
                      "strip_prefix"}));
}

TEST(ConfigLoader, DuplicateListenersAndRoutes) {
    EXPECT_EQ(errors_of(R"(
listeners:
  - { address: 127.0.0.1:8080, name: web }
  - { address: 127.0.0.1:8080, name: other }
  - { address: 127.0.0.1:8081, name: web }
routes:
  - { name: a, respond: {} }
  - { name: a, respond: {} }
)"),
              (Errors{"usher.yaml:3:16: listeners[1].address: duplicate listener address "
                      "127.0.0.1:8080 (also used by listeners[0])",
                      "usher.yaml:4:38: listeners[2].name: duplicate listener name \"web\" (also "
                      "used by listeners[0])",
                      "usher.yaml:7:13: routes[1].name: duplicate route name \"a\" (also used by "
                      "routes[0])"}));
}

// ---- proxy -------------------------------------------------------------------------------------

TEST(ConfigLoader, InvalidTrustedProxyCidr) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
proxy:
  trusted_proxies: [10.0.0.0/8, 10.0.0.1/8, 300.1.2.3/8, 10.0.0.0/33, "::1"]
)")),
              (Errors{"usher.yaml:5:33: proxy.trusted_proxies[1]: \"10.0.0.1/8\" has host bits "
                      "set (did you mean 10.0.0.0/8?)",
                      "usher.yaml:5:45: proxy.trusted_proxies[2]: invalid CIDR \"300.1.2.3/8\" "
                      "(expected e.g. 10.0.0.0/8 or fd00::/8)",
                      "usher.yaml:5:58: proxy.trusted_proxies[3]: prefix length 33 in "
                      "\"10.0.0.0/33\" is out of range (0-32)"}));
}

TEST(ConfigLoader, OnlyOneDocumentPerFile) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes: [{ respond: {} }]
---
workers: 2
)")),
              Errors{"usher.yaml:5:1: only one YAML document per file is allowed"});
}

TEST(ConfigLoader, HeaderValuesMustNotContainControlCharacters) {
    EXPECT_EQ(errors_of(with_listener(R"(
routes:
  - respond: {}
    response_headers: { add: { X-A: "a\r\nB: c" } }
)")),
              Errors{"usher.yaml:5:37: routes[0].response_headers.add.X-A: header values must not "
                     "contain control characters"});
}

TEST(ConfigLoader, EndpointMustBeAStringOrMapping) {
    EXPECT_EQ(errors_of(with_listener(R"(
clusters:
  a:
    endpoints:
      - [127.0.0.1, 80]
)")),
              Errors{"usher.yaml:6:9: clusters.a.endpoints[0]: expected \"host:port\" or a mapping "
                     "with address, weight and drain"});
}

TEST(ConfigDocs, CompleteExampleIsExamplesUsherYaml) {
    const auto read = [](const std::string& path) {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        std::string out;
        if (f != nullptr) {
            char buf[4096];
            std::size_t n = 0;
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
                out.append(buf, n);
            }
            std::fclose(f);
        }
        return out;
    };
    const std::string docs = read(std::string(USHER_SOURCE_DIR) + "/docs/config.md");
    const std::string example = read(std::string(USHER_SOURCE_DIR) + "/examples/usher.yaml");
    ASSERT_FALSE(example.empty());
    EXPECT_NE(docs.find("```yaml\n" + example + "```"), std::string::npos)
        << "docs/config.md must embed examples/usher.yaml verbatim";
}

// ---- Diagnostic and summary --------------------------------------------------------------------

TEST(Diagnostic, FormatsWithAndWithoutPositionAndPath) {
    EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "x.y", "bad"}).to_string(), "a.yaml:3:7: x.y: bad");
    EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "", "bad"}).to_string(), "a.yaml:3:7: bad");
    EXPECT_EQ((Diagnostic{"a.yaml", 0, 0, "", "bad"}).to_string(), "a.yaml: bad");
}

TEST(ConfigSummary, CountsEverything) {
    Config c;
    c.listeners.resize(3);
    c.routes.resize(12);
    for (int i = 0; i < 4; ++i) {
        std::string name = "c";
        name += std::to_string(i);
        c.clusters[name].endpoints.resize(i == 0 ? 5 : 6);
    }
    EXPECT_EQ(summary(c), "3 listeners, 12 routes, 4 clusters (23 endpoints)");
}

TEST(SocketAddress, BracketsIpv6) {
    EXPECT_EQ((SocketAddress{"::1", 80}).to_string(), "[::1]:80");
    EXPECT_EQ((SocketAddress{"example.com", 443}).to_string(), "example.com:443");
}

}  // namespace
}  // namespace usher::config
