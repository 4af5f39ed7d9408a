#include "proxy/router.hpp"

#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "http/h1/parser.hpp"

namespace usher::proxy {
namespace {

// Parses a request head from text (kept alive with the head's views).
struct Request {
    explicit Request(std::string text) : raw(std::move(text)) {
        auto r = http::h1::parse_request_head(raw, {}, head);
        EXPECT_TRUE(r.ok()) << raw << " -> " << r.error.reason;
    }
    std::string raw;
    http::RequestHead head;
};

std::shared_ptr<config::Config> load(const std::string& routes) {
    auto r = config::load_string(
        "listeners: [{address: \"127.0.0.1:1\", name: web}, {address: \"127.0.0.1:2\", name: "
        "admin}]\n"
        "clusters:\n  a: {endpoints: [\"127.0.0.1:9\"]}\n  b: {endpoints: [\"127.0.0.1:9\"]}\n"
        "routes:\n" +
            routes,
        "test.yaml");
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return r.config;
}

std::string match(const Router& router, const std::string& req, std::string_view listener = "web") {
    Request r(req);
    const auto* route = router.match(r.head, listener);
    return route ? route->config->name : "-";
}

TEST(Router, FirstMatchingRouteWinsInConfigOrder) {
    auto cfg = load(
        "  - {name: one, match: {path: /api}, cluster: a}\n"
        "  - {name: two, match: {path: /api/v2}, cluster: b}\n");
    Router router(*cfg);
    EXPECT_EQ(match(router, "GET /api/v2/x HTTP/1.1\r\nHost: h\r\n\r\n"), "one");
    EXPECT_EQ(match(router, "GET /other HTTP/1.1\r\nHost: h\r\n\r\n"), "-");
}

TEST(Router, HostMatchIsCaseInsensitiveIgnoresPortAndWildcardExcludesApex) {
    auto cfg = load(
        "  - {name: exact, match: {host: Example.COM}, cluster: a}\n"
        "  - {name: wild, match: {host: \"*.example.com\"}, cluster: b}\n");
    Router router(*cfg);
    EXPECT_EQ(match(router, "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), "exact");
    EXPECT_EQ(match(router, "GET / HTTP/1.1\r\nHost: a.b.EXAMPLE.com\r\n\r\n"), "wild");
    EXPECT_EQ(match(router, "GET / HTTP/1.1\r\nHost: badexample.com\r\n\r\n"), "-");
}

TEST(Router, PathKindsExactPrefixRegex) {
    auto cfg = load(
        "  - {name: exact, match: {path: {exact: /x}}, cluster: a}\n"
        "  - {name: rx, match: {path: {regex: \"^/u/[0-9]+$\"}}, cluster: a}\n"
        "  - {name: prefix, match: {path: {prefix: /x}}, cluster: b}\n");
    Router router(*cfg);
    EXPECT_EQ(match(router, "GET /x?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"), "exact") << "query ignored";
    EXPECT_EQ(match(router, "GET /xy HTTP/1.1\r\nHost: h\r\n\r\n"), "prefix");
    EXPECT_EQ(match(router, "GET /u/42 HTTP/1.1\r\nHost: h\r\n\r\n"), "rx");
    EXPECT_EQ(match(router, "GET /u/42a HTTP/1.1\r\nHost: h\r\n\r\n"), "-");
}

TEST(Router, MethodHeaderCookieQueryAndListenerConditionsAllApply) {
    auto cfg = load(
        "  - name: all\n    cluster: a\n    match:\n      method: [PUT]\n"
        "      headers: [{name: X-Env, regex: \"^prod\"}, {name: X-Debug, present: true}]\n"
        "      cookies: [{name: sid, present: true}]\n"
        "      query: [{name: v, equals: \"2\"}]\n      listener: admin\n");
    Router router(*cfg);
    std::string ok =
        "PUT /p?a=1&v=2 HTTP/1.1\r\nHost: h\r\nX-Env: production\r\nX-Debug: 0\r\n"
        "Cookie: a=b; sid=\"xyz\"\r\n\r\n";
    EXPECT_EQ(match(router, ok, "admin"), "all");
    EXPECT_EQ(match(router, ok, "web"), "-") << "wrong listener";
    EXPECT_EQ(
        match(
            router,
            "GET /p?v=2 HTTP/1.1\r\nHost: h\r\nX-Env: prod\r\nX-Debug: 1\r\nCookie: sid=1\r\n\r\n",
            "admin"),
        "-");
    EXPECT_EQ(
        match(
            router,
            "PUT /p?v=3 HTTP/1.1\r\nHost: h\r\nX-Env: prod\r\nX-Debug: 1\r\nCookie: sid=1\r\n\r\n",
            "admin"),
        "-");
    EXPECT_EQ(match(router,
                    "PUT /p?v=2 HTTP/1.1\r\nHost: h\r\nX-Env: staging\r\nX-Debug: 1\r\nCookie: "
                    "sid=1\r\n\r\n",
                    "admin"),
              "-");
    EXPECT_EQ(
        match(router, "PUT /p?v=2 HTTP/1.1\r\nHost: h\r\nX-Env: prod\r\nCookie: sid=1\r\n\r\n",
              "admin"),
        "-");
    EXPECT_EQ(
        match(
            router,
            "PUT /p?v=2 HTTP/1.1\r\nHost: h\r\nX-Env: prod\r\nX-Debug: 1\r\nCookie: sidx=1\r\n\r\n",
            "admin"),
        "-");
}

TEST(RouterHelpers, CookieAndQueryLookups) {
    http::HeaderMap h;
    h.add("Cookie", "a=1; b = two ;c=\"q\"");
    h.add("cookie", "d=4");
    std::string_view v;
    ASSERT_TRUE(find_cookie(h, "b", v));
    EXPECT_EQ(v, "two");
    ASSERT_TRUE(find_cookie(h, "c", v));
    EXPECT_EQ(v, "q");
    ASSERT_TRUE(find_cookie(h, "d", v));
    EXPECT_FALSE(find_cookie(h, "e", v));
    ASSERT_TRUE(find_query_param("x=1&flag&y=", "flag", v));
    EXPECT_EQ(v, "");
    ASSERT_TRUE(find_query_param("x=1&flag&y=", "x", v));
    EXPECT_EQ(v, "1");
    EXPECT_FALSE(find_query_param("xx=1", "x", v));
    EXPECT_EQ(strip_port("[::1]:80"), "[::1]");
    EXPECT_EQ(strip_port("a.b:80"), "a.b");
    EXPECT_EQ(strip_port("a.b"), "a.b");
}

}  // namespace
}  // namespace usher::proxy
