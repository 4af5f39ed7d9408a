// The admin API against the real binary: every endpoint, its errors (404, 405, 401, 400, 411),
// the bearer token, endpoint drain/undrain changing where requests go, /status counting what the
// clients did, /metrics passing `promtool check metrics`, reload through the API and through
// `usher reload`, and the redacted /config.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <regex>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "s3cret-admin-token-0123456789";

// The admin listener's port, from the "admin: serving on http://127.0.0.1:PORT" log line.
int admin_port(const UsherProcess& usher) {
    const auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        const auto log = usher.log();
        const auto pos = log.find("admin: serving on http://");
        if (pos != std::string::npos) {
            const auto colon = log.find(':', pos + std::strlen("admin: serving on http://"));
            const int port = std::atoi(log.c_str() + colon + 1);
            if (port > 0) {
                return port;
            }
        }
        std::this_thread::sleep_for(10ms);
    }
    return 0;
}

std::string admin_url(int port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
}

CurlResult admin(int port, const std::string& method, const std::string& path,
                 const std::string& token = "") {
    CurlOptions o;
    o.method = method;
    if (!token.empty()) {
        o.headers.push_back("Authorization: Bearer " + token);
    }
    return curl_request(admin_url(port, path), o);
}

// GET `path` until its body contains `needle` (a counter is bumped after the response it counts
// was written, so a client can be a moment ahead of it), at most 5 s.
CurlResult admin_until(int port, const std::string& path, const std::string& needle) {
    CurlResult r;
    const auto deadline = Clock::now() + 5s;
    do {
        r = admin(port, "GET", path);
        if (r.body.find(needle) != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(10ms);
    } while (Clock::now() < deadline);
    return r;
}

std::string admin_section(const std::string& token = "") {
    std::string s = "admin:\n  listen: 127.0.0.1:0\n";
    if (!token.empty()) {
        s += "  token: \"" + token + "\"\n";
    }
    return s;
}

// The number after "key": in a flat part of a JSON document (our writer's "key": value form).
long long json_number(const std::string& body, const std::string& key, std::size_t from = 0) {
    const auto at = body.find("\"" + key + "\": ", from);
    if (at == std::string::npos) {
        return -1;
    }
    return std::atoll(body.c_str() + at + key.size() + 4);
}

// A backend answering 200 "a" (or whatever `body` is), or 404 for /missing.
std::unique_ptr<FakeBackend> backend_named(std::string body) {
    return std::make_unique<FakeBackend>([body](int fd, int) {
        std::string buf;
        while (auto req = read_request(fd, buf)) {
            const bool missing = req->start_line.find(" /missing ") != std::string::npos;
            const std::string status = missing ? "404 Not Found" : "200 OK";
            if (!send_all(fd, "HTTP/1.1 " + status + "\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body)) {
                return;
            }
        }
    });
}

TEST(Admin, HealthzReadyAndDashboardAnswer) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(), 2));
    ASSERT_TRUE(usher.started()) << usher.log();
    const int port = admin_port(usher);
    ASSERT_GT(port, 0) << usher.log();
    auto r = admin(port, "GET", "/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("live"), std::string::npos);
    r = admin(port, "GET", "/ready");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"ready\": true"), std::string::npos);
    r = admin(port, "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.headers.find("text/html"), std::string::npos) << r.headers;
    EXPECT_NE(r.body.find("<html"), std::string::npos);
    r = admin(port, "HEAD", "/healthz");
    EXPECT_EQ(r.status, 200);
}

TEST(Admin, ReadyWaitsForTheFirstHealthChecks) {
    // The check's backend answers only after a delay: until then /ready is 503.
    FakeBackend slow([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            std::this_thread::sleep_for(1500ms);
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    UsherProcess checked(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        slow.address() +
        "\"]\n    health_check:\n      path: /health\n      interval: 10s\n"
        "      timeout: 5s\n" +
        admin_section());
    ASSERT_TRUE(checked.started()) << checked.log();
    const int port = admin_port(checked);
    ASSERT_GT(port, 0);
    auto r = admin(port, "GET", "/ready");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("health checks"), std::string::npos) << r.body;
    const auto deadline = Clock::now() + 10s;
    while (r.status != 200 && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        r = admin(port, "GET", "/ready");
    }
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST(Admin, StatusCountsRequestsListenersRoutesAndEndpoints) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(), 2));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    ASSERT_GT(port, 0);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(curl_request(usher.url("/ok")).status, 200);
    }
    EXPECT_EQ(curl_request(usher.url("/missing")).status, 404);
    auto r = admin_until(port, "/status", "\"requests\": 4, \"status_1xx\"");
    ASSERT_EQ(r.status, 200);
    const auto& s = r.body;
    EXPECT_NE(r.headers.find("application/json"), std::string::npos);
    EXPECT_EQ(json_number(s, "requests"), 4) << s;
    EXPECT_EQ(json_number(s, "status_2xx"), 3) << s;
    EXPECT_EQ(json_number(s, "status_4xx"), 1) << s;
    EXPECT_EQ(json_number(s, "status_5xx"), 0) << s;
    EXPECT_EQ(json_number(s, "workers"), 2);
    EXPECT_EQ(json_number(s, "pid"), usher.pid());
    EXPECT_EQ(json_number(s, "connections_total"), 4) << s;
    EXPECT_NE(s.find("\"last_reload\": null"), std::string::npos);
    EXPECT_TRUE(std::regex_search(s, std::regex("\"hash\": \"[0-9a-f]{16}\"")));
    EXPECT_NE(s.find("\"address\": \"127.0.0.1:" + std::to_string(usher.port()) + "\""),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("{\"name\": \"default\", \"cluster\": \"app\", \"requests\": 4}"),
              std::string::npos)
        << s;
    // The endpoint: its counters come from the shared EndpointHealth.
    const auto ep = s.find("\"label\": \"" + backend->address() + "\"");
    ASSERT_NE(ep, std::string::npos) << s;
    EXPECT_NE(s.find("\"state\": \"healthy\"", ep), std::string::npos);
    EXPECT_EQ(json_number(s, "requests", ep), 4);
    const auto p99 = s.find("\"p99\": ");
    ASSERT_NE(p99, std::string::npos);
    EXPECT_GT(std::strtod(s.c_str() + p99 + 7, nullptr), 0.0) << s;
}

TEST(Admin, StatusAndMetricsShowRequestsInFlight) {
    FakeBackend slow([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            std::this_thread::sleep_for(1500ms);
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
        }
    });
    UsherProcess usher(cluster_config(slow.address(), admin_section(), 2));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    auto pending = std::async(std::launch::async, [&] { return curl_request(usher.url("/")); });
    auto r = admin_until(port, "/status", "\"active\": 1}");
    EXPECT_NE(r.body.find("\"active\": 1}"), std::string::npos) << r.body;
    r = admin(port, "GET", "/metrics");
    EXPECT_NE(r.body.find("usher_upstream_requests_active{cluster=\"app\",endpoint=\"" +
                          slow.address() + "\"} 1"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(pending.get().body, "slow");
    r = admin_until(port, "/status", "\"active\": 0}");
    EXPECT_NE(r.body.find("\"active\": 0}"), std::string::npos) << r.body;
}

TEST(Admin, BearerTokenGuardsEverythingButHealthz) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(kToken), 1));
    ASSERT_TRUE(usher.started()) << usher.log();
    const int port = admin_port(usher);
    ASSERT_GT(port, 0);
    EXPECT_EQ(admin(port, "GET", "/healthz").status, 200);
    // The page is static (it asks for the token itself when /status answers 401).
    EXPECT_EQ(admin(port, "GET", "/").status, 200);
    for (const std::string path : {"/status", "/metrics", "/config", "/ready", "/nope"}) {
        auto r = admin(port, "GET", path);
        EXPECT_EQ(r.status, 401) << path;
        EXPECT_NE(r.body.find("\"error\": "), std::string::npos) << path;
        EXPECT_NE(r.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << path;
        EXPECT_EQ(admin(port, "GET", path, "wrong-token-wrong-token-wrong").status, 401) << path;
        EXPECT_EQ(admin(port, "GET", path, kToken).status, path == "/nope" ? 404 : 200) << path;
    }
    EXPECT_EQ(admin(port, "POST", "/config/reload").status, 401);
    EXPECT_EQ(
        admin(port, "POST", "/clusters/app/endpoints/" + backend->address() + "/drain").status,
        401);
    // Basic instead of Bearer is refused as well.
    CurlOptions basic;
    basic.headers.push_back(std::string("Authorization: Basic ") + kToken);
    EXPECT_EQ(curl_request(admin_url(port, "/status"), basic).status, 401);
}

TEST(Admin, ConfigIsShownWithTheTokenRedacted) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(kToken), 1));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    auto r = admin(port, "GET", "/config", kToken);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find(kToken), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("<redacted>"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(backend->address()), std::string::npos) << r.body;
    EXPECT_NE(r.headers.find("yaml"), std::string::npos);
}

TEST(Admin, WrongMethodsUnknownPathsAndMalformedRequestsGetJsonErrors) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(), 1));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    auto r = admin(port, "POST", "/status");
    EXPECT_EQ(r.status, 405);
    EXPECT_NE(r.headers.find("Allow: GET, HEAD"), std::string::npos) << r.headers;
    EXPECT_NE(r.body.find("{\"error\": "), std::string::npos);
    r = admin(port, "GET", "/config/reload");
    EXPECT_EQ(r.status, 405);
    EXPECT_NE(r.headers.find("Allow: POST"), std::string::npos);
    r = admin(port, "DELETE", "/clusters/app/endpoints/" + backend->address() + "/drain");
    EXPECT_EQ(r.status, 405);
    r = admin(port, "GET", "/nope");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("{\"error\": "), std::string::npos);
    EXPECT_EQ(admin(port, "POST", "/clusters/app/endpoints/x/explode").status, 404);

    // Raw bytes: a broken request line, a chunked body, an oversized body, a silent client.
    auto raw = [&](const std::string& bytes) {
        int fd = connect_to(port);
        send_all(fd, bytes);
        auto out = read_to_close(fd, 5s);
        ::close(fd);
        return out;
    };
    auto out = raw("GARBAGE\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
    EXPECT_NE(out.find("{\"error\": "), std::string::npos);
    out = raw(
        "POST /config/reload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 411", 0), 0u) << out;
    out = raw("POST /config/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
    out = raw("GET /status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
    // The listener still serves after all that.
    EXPECT_EQ(admin(port, "GET", "/healthz").status, 200);
}

TEST(Admin, DrainAndUndrainMoveTrafficAwayFromAnEndpointAndBack) {
    auto a = backend_named("a");
    auto b = backend_named("b");
    UsherProcess usher(
        "workers: 2\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        a->address() + "\", \"" + b->address() + "\"]\n" + admin_section());
    ASSERT_TRUE(usher.started()) << usher.log();
    const int port = admin_port(usher);
    auto drained = admin(port, "POST", "/clusters/app/endpoints/" + a->address() + "/drain");
    ASSERT_EQ(drained.status, 200) << drained.body;
    EXPECT_NE(drained.body.find("\"draining\": true"), std::string::npos);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(curl_request(usher.url("/")).body, "b") << "request " << i;
    }
    auto status = admin(port, "GET", "/status").body;
    const auto at = status.find("\"label\": \"" + a->address() + "\"");
    ASSERT_NE(at, std::string::npos);
    EXPECT_NE(status.find("\"state\": \"draining\"", at), std::string::npos) << status;

    // The address percent-encoded works too.
    std::string encoded = a->address();
    encoded.replace(encoded.find(':'), 1, "%3A");
    ASSERT_EQ(admin(port, "POST", "/clusters/app/endpoints/" + encoded + "/undrain").status, 200);
    int to_a = 0;
    for (int i = 0; i < 20; ++i) {
        to_a += curl_request(usher.url("/")).body == "a";
    }
    EXPECT_GT(to_a, 0) << "the undrained endpoint gets requests again";

    auto r = admin(port, "POST", "/clusters/nope/endpoints/" + a->address() + "/drain");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("nope"), std::string::npos);
    r = admin(port, "POST", "/clusters/app/endpoints/127.0.0.1:1/drain");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("127.0.0.1:1"), std::string::npos);
    EXPECT_EQ(admin(port, "POST", "/clusters/app/endpoints/%zz/drain").status, 400);
}

TEST(Admin, MetricsPassPromtoolAndCountWhatHappened) {
    auto backend = backend_named("a");
    UsherProcess usher(cluster_config(backend->address(), admin_section(), 2));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(curl_request(usher.url("/")).status, 200);
    }
    EXPECT_EQ(curl_request(usher.url("/missing")).status, 404);
    const std::string listener = "127.0.0.1:0";  // the configured address names the listener
    auto r = admin_until(port, "/metrics", "usher_request_duration_seconds_count 6\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.headers.find("text/plain; version=0.0.4"), std::string::npos);
    EXPECT_NE(r.body.find("usher_requests_total{listener=\"" + listener +
                          "\",route=\"default\",cluster=\"app\",code=\"2xx\"} 5"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("code=\"4xx\"} 1"), std::string::npos);
    EXPECT_NE(r.body.find("usher_request_duration_seconds_count 6"), std::string::npos);
    EXPECT_NE(r.body.find("usher_downstream_connections_total{listener=\"" + listener + "\"} 6"),
              std::string::npos);
    EXPECT_NE(r.body.find("usher_endpoint_state{cluster=\"app\",endpoint=\"" + backend->address() +
                          "\",state=\"healthy\"} 1"),
              std::string::npos);
    EXPECT_NE(r.body.find("usher_config_reloads_total{result=\"ok\"} 0"), std::string::npos);
    EXPECT_NE(r.body.find("usher_upstream_connections_idle{cluster=\"app\",endpoint=\"" +
                          backend->address() + "\"} "),
              std::string::npos)
        << "the keep-alive connections wait in the pool";

    if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
    }
    char tmpl[] = "/tmp/usher-metrics-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(tmpl) << r.body;
    const std::string cmd = std::string("promtool check metrics < ") + tmpl + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
        out += buf;
    }
    const int rc = ::pclose(p);
    ::unlink(tmpl);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out, "") << "promtool lint findings";
}

TEST(Admin, ReloadThroughTheApiAppliesValidFilesAndRejectsInvalidOnes) {
    auto a = backend_named("a");
    auto b = backend_named("b");
    UsherProcess usher(cluster_config(a->address(), admin_section(), 2));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    const auto before = admin(port, "GET", "/status").body;
    EXPECT_EQ(curl_request(usher.url("/")).body, "a");

    // The new file names the bound port (the running listener keeps its socket).
    const std::string listen = "127.0.0.1:" + std::to_string(usher.port());
    std::ofstream(usher.config_path())
        << "workers: 2\nlisteners:\n  - address: \"" << listen
        << "\"\nclusters:\n  app:\n    endpoints: [\"" << b->address() << "\"]\n"
        << "admin:\n  listen: 127.0.0.1:" << port << "\n";
    auto r = admin(port, "POST", "/config/reload");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"ok\": true"), std::string::npos);
    EXPECT_EQ(curl_request(usher.url("/")).body, "b") << "the next request follows the new file";
    const auto after = admin(port, "GET", "/status").body;
    EXPECT_EQ(json_number(after, "reloads"), 1);
    EXPECT_NE(after.find("\"ok\": true"), std::string::npos);
    const std::regex hash("\"hash\": \"([0-9a-f]{16})\"");
    std::smatch m1, m2;
    ASSERT_TRUE(std::regex_search(before, m1, hash));
    ASSERT_TRUE(std::regex_search(after, m2, hash));
    EXPECT_NE(m1[1], m2[1]) << "the config hash changed";

    // An invalid file: 422 with file:line:col, and the running config stays.
    std::ofstream(usher.config_path()) << "workers: 2\nlisteners:\n  - address: \"" << listen
                                       << "\"\nclusters:\n  app:\n    endpoints: [\""
                                       << a->address() << "\"]\n    balancer: round_robbin\n";
    r = admin(port, "POST", "/config/reload");
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_NE(r.body.find(usher.config_path() + ":7:15: clusters.app.balancer"), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("{\"error\": "), std::string::npos);
    EXPECT_EQ(curl_request(usher.url("/")).body, "b") << "still the last valid config";
    const auto rejected = admin(port, "GET", "/status").body;
    EXPECT_EQ(json_number(rejected, "reloads"), 1);
    EXPECT_NE(rejected.find("\"ok\": false"), std::string::npos) << rejected;
    EXPECT_NE(rejected.find("round_robbin"), std::string::npos);
    auto metrics = admin(port, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("usher_config_reloads_total{result=\"rejected\"} 1"), std::string::npos);
}

TEST(Admin, ReloadCommandTalksToTheAdminApi) {
    auto a = backend_named("a");
    auto b = backend_named("b");
    UsherProcess usher(cluster_config(a->address(), admin_section(kToken), 1));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    const std::string addr = "127.0.0.1:" + std::to_string(port);
    const std::string listen = "127.0.0.1:" + std::to_string(usher.port());
    auto write = [&](const std::string& backend) {
        std::ofstream(usher.config_path())
            << "workers: 1\nlisteners:\n  - address: \"" << listen
            << "\"\nclusters:\n  app:\n    endpoints: [\"" << backend << "\"]\n"
            << "admin:\n  listen: " << addr << "\n  token: \"" << kToken << "\"\n";
    };
    write(b->address());
    auto r = run_usher({"reload", "--admin", addr, "--token", kToken});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("reloaded"), std::string::npos) << r.out;
    EXPECT_EQ(curl_request(usher.url("/")).body, "b");
    // -c reads the admin address and token from the file itself.
    write(a->address());
    r = run_usher({"reload", "-c", usher.config_path()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(curl_request(usher.url("/")).body, "a");
    // A wrong token, an invalid file, nobody listening: exit 1 with the reason.
    r = run_usher({"reload", "--admin", addr, "--token", "nope-nope-nope-nope"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
    std::ofstream(usher.config_path()) << "listeners: [\n";
    r = run_usher({"reload", "--admin", addr, "--token", kToken});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("rejected"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("YAML syntax error"), std::string::npos) << r.err;
    r = run_usher({"reload", "--admin", "127.0.0.1:1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("cannot reach the admin API"), std::string::npos) << r.err;
}

TEST(Admin, SighupReloadsAndShutdownMakesReadyFail) {
    auto a = backend_named("a");
    auto b = backend_named("b");
    UsherProcess usher(cluster_config(a->address(), admin_section(), 1));
    ASSERT_TRUE(usher.started());
    const int port = admin_port(usher);
    const std::string listen = "127.0.0.1:" + std::to_string(usher.port());
    std::ofstream(usher.config_path())
        << "workers: 1\ndrain_timeout: 3s\nlisteners:\n  - address: \"" << listen
        << "\"\nclusters:\n  app:\n    endpoints: [\"" << b->address() << "\"]\n"
        << "admin:\n  listen: 127.0.0.1:" << port << "\n";
    usher.signal(SIGHUP);
    const auto deadline = Clock::now() + 5s;
    std::string body;
    while (Clock::now() < deadline && (body = curl_request(usher.url("/")).body) != "b") {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(body, "b") << usher.log();
    EXPECT_NE(usher.log().find("reload applied"), std::string::npos);

    // A request held open keeps usher draining; meanwhile /ready says 503.
    int fd = connect_to(usher.port());
    send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
    std::this_thread::sleep_for(200ms);
    usher.signal(SIGTERM);
    CurlResult ready;
    const auto until = Clock::now() + 3s;
    do {
        ready = admin(port, "GET", "/ready");
    } while (ready.status != 503 && Clock::now() < until);
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_NE(ready.body.find("draining"), std::string::npos);
    ::close(fd);
    EXPECT_EQ(usher.stop(10s), 0);
}

}  // namespace
}  // namespace usher::test
