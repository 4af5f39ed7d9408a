// AdminApi without sockets: routing, methods, the token, drain/undrain, reload outcomes, and
// the /status and /metrics documents built from a real snapshot and metrics.
#include "admin/admin_api.hpp"

#include <gtest/gtest.h>

#include "admin/json_writer.hpp"
#include "config/loader.hpp"
#include "server/snapshot_builder.hpp"

namespace usher::admin {
namespace {

constexpr const char* kYaml =
    "listeners:\n  - name: web\n    address: 127.0.0.1:8080\n"
    "clusters:\n  app:\n    endpoints: [\"127.0.0.1:9000\", \"127.0.0.1:9001\"]\n"
    "    slow_start: 30s\n"
    "routes:\n  - name: api\n    cluster: app\n";

struct Fixture {
    Fixture() : state("usher.yaml", 2) {
        auto loaded = config::load_string(kYaml, "usher.yaml");
        EXPECT_TRUE(loaded.ok());
        snapshot = server::build_snapshot(loaded.config, 2);
        state.set_config(snapshot, {{"web", "127.0.0.1:8080", false}}, "00112233aabbccdd");
    }
    AdminState state;
    proxy::SnapshotPtr snapshot;
};

AdminRequest req(std::string method, std::string target, std::string auth = "") {
    return {std::move(method), std::move(target), std::move(auth)};
}

TEST(AdminApi, RoutesMethodsAndUnknownPaths) {
    Fixture f;
    f.state.ready = true;
    AdminApi api(f.state, "");
    EXPECT_EQ(api.handle(req("GET", "/healthz")).status, 200);
    EXPECT_EQ(api.handle(req("GET", "/ready")).status, 200);
    EXPECT_EQ(api.handle(req("GET", "/status?pretty=1")).status, 200);
    auto r = api.handle(req("PUT", "/metrics"));
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.allow, "GET, HEAD");
    EXPECT_EQ(r.body, json_error("method not allowed"));
    r = api.handle(req("GET", "/clusters/app/endpoints/127.0.0.1:9000/drain"));
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.allow, "POST");
    EXPECT_EQ(api.handle(req("GET", "/clusters/app")).status, 404);
    EXPECT_EQ(api.handle(req("GET", "/../status")).status, 404);
    EXPECT_EQ(api.handle(req("POST", "/clusters/app/endpoints/a/b/drain")).status, 404);
}

TEST(AdminApi, ReadyIsFalseWhileStartingAndDraining) {
    Fixture f;
    AdminApi api(f.state, "");
    auto r = api.handle(req("GET", "/ready"));
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(r.body.find("starting"), std::string::npos);
    f.state.ready = true;
    EXPECT_EQ(api.handle(req("GET", "/ready")).status, 200);
    f.state.draining = true;
    r = api.handle(req("GET", "/ready"));
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(r.body.find("draining"), std::string::npos);
    EXPECT_EQ(api.handle(req("GET", "/healthz")).status, 200) << "still live";
}

TEST(AdminApi, TokenIsRequiredExceptForHealthz) {
    Fixture f;
    AdminApi api(f.state, "0123456789abcdef");
    EXPECT_EQ(api.handle(req("GET", "/healthz")).status, 200);
    auto r = api.handle(req("GET", "/status"));
    EXPECT_EQ(r.status, 401);
    EXPECT_TRUE(r.www_authenticate);
    EXPECT_EQ(api.handle(req("GET", "/status", "Bearer 0123456789abcdeX")).status, 401);
    EXPECT_EQ(api.handle(req("GET", "/status", "Bearer 0123456789abcde")).status, 401);
    EXPECT_EQ(api.handle(req("GET", "/status", "0123456789abcdef")).status, 401);
    EXPECT_EQ(api.handle(req("GET", "/status", "Bearer 0123456789abcdef")).status, 200);
    EXPECT_EQ(api.handle(req("GET", "/status", "bearer 0123456789abcdef")).status, 200);
    EXPECT_EQ(api.handle(req("GET", "/nope")).status, 401) << "no path probing without it";
}

TEST(AdminApi, DrainAndUndrainSetTheSharedEndpointState) {
    Fixture f;
    AdminApi api(f.state, "");
    const auto& health = *f.snapshot->clusters.at("app").endpoints[1].health;
    auto r = api.handle(req("POST", "/clusters/app/endpoints/127.0.0.1:9001/drain"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(health.is_draining());
    EXPECT_FALSE(f.snapshot->clusters.at("app").endpoints[0].health->is_draining());
    r = api.handle(req("POST", "/clusters/app/endpoints/127.0.0.1%3a9001/undrain"));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(health.is_draining());
    EXPECT_EQ(api.handle(req("POST", "/clusters/web/endpoints/127.0.0.1:9001/drain")).status, 404);
    EXPECT_EQ(api.handle(req("POST", "/clusters/app/endpoints/127.0.0.1:9002/drain")).status, 404);
    EXPECT_EQ(api.handle(req("POST", "/clusters/app/endpoints/127.0.0.1%9/drain")).status, 400);
}

TEST(AdminApi, ReloadReportsTheOutcome) {
    Fixture f;
    AdminApi api(f.state, "");
    EXPECT_EQ(api.handle(req("POST", "/config/reload")).status, 503) << "no reload function";
    f.state.reload = [] {
        return ReloadOutcome{422, {"usher.yaml:3:5: clusters.app: \"bad\""}, "abc"};
    };
    auto r = api.handle(req("POST", "/config/reload"));
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("\"error\": "), std::string::npos);
    EXPECT_NE(r.body.find("\"errors\": [\"usher.yaml:3:5: clusters.app: \\\"bad\\\"\"]"),
              std::string::npos)
        << r.body;
    f.state.reload = [] { return ReloadOutcome{200, {}, "def"}; };
    r = api.handle(req("POST", "/config/reload"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"ok\": true, \"hash\": \"def\", \"errors\": []}\n");
}

TEST(AdminApi, StatusFollowsTheSchema) {
    Fixture f;
    f.state.ready = true;
    proxy::ListenerInfo web;
    web.name = "web";
    proxy::AccessEntry e;
    e.route = "api";
    e.cluster = "app";
    e.status = 502;
    e.total_s = 0.02;
    f.state.worker_metrics(1).on_request(web, e);
    f.state.worker_metrics(0).on_connection_open(web);
    f.snapshot->clusters.at("app").endpoints[0].health->set_draining(true);
    f.state.record_reload({false, std::chrono::system_clock::from_time_t(1800000000), {"bad"}});
    AdminApi api(f.state, "");
    const auto s = api.handle(req("GET", "/status")).body;
    for (const char* key :
         {"\"version\": ", "\"pid\": ", "\"uptime_s\": ", "\"workers\": 2", "\"ready\": true",
          "\"draining\": false", "\"path\": \"usher.yaml\"", "\"hash\": \"00112233aabbccdd\"",
          "\"reloads\": 0",
          "\"last_reload\": {\"ok\": false, \"at\": \"2027-01-15T08:00:00Z\", \"errors\": "
          "[\"bad\"]}",
          "\"requests\": 1", "\"status_5xx\": 1", "\"connections_active\": 1",
          "\"latency_ms\": {\"p50\": ",
          "\"listeners\": [{\"name\": \"web\", \"address\": \"127.0.0.1:8080\", \"tls\": false, "
          "\"connections_active\": 1}]",
          "\"routes\": [{\"name\": \"api\", \"cluster\": \"app\", \"requests\": 1}]",
          "{\"name\": \"app\", \"balancer\": \"round_robin\", \"endpoints\": [",
          "{\"address\": \"127.0.0.1:9000\", \"label\": \"127.0.0.1:9000\", \"state\": "
          "\"draining\", \"requests\": 0, \"failures\": 0, \"active\": 0}",
          "\"state\": \"healthy\""}) {
        EXPECT_NE(s.find(key), std::string::npos) << key << "\n" << s;
    }
}

TEST(AdminApi, PercentDecoding) {
    EXPECT_EQ(percent_decode("%5B%3A%3A1%5D%3a80"), "[::1]:80");
    EXPECT_EQ(percent_decode("plain"), "plain");
    EXPECT_FALSE(percent_decode("%"));
    EXPECT_FALSE(percent_decode("%4"));
    EXPECT_FALSE(percent_decode("%zz"));
}

TEST(JsonWriter, EscapesAndSeparates) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("a\"b");
    w.string("line\nbreak\t\x01\\");
    w.key("list");
    w.begin_array();
    w.number(std::uint64_t{1});
    w.number(2.5);
    w.boolean(false);
    w.null();
    w.begin_object();
    w.end_object();
    w.end_array();
    w.end_object();
    EXPECT_EQ(
        out, "{\"a\\\"b\": \"line\\nbreak\\t\\u0001\\\\\", \"list\": [1, 2.500, false, null, {}]}");
}

}  // namespace
}  // namespace usher::admin
