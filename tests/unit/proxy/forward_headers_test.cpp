#include "proxy/forward_headers.hpp"

#include <gtest/gtest.h>

#include "http/h1/parser.hpp"

namespace usher::proxy {
namespace {

struct Parsed {
    explicit Parsed(std::string text) : raw(std::move(text)) {
        EXPECT_TRUE(http::h1::parse_request_head(raw, {}, head).ok()) << raw;
    }
    std::string raw;
    http::RequestHead head;
};

std::string upstream_head(const std::string& request, config::ProxyOptions opts = {},
                          const config::Route* route = nullptr, bool trusted = false) {
    Parsed p(request);
    UpstreamHeadParams params;
    params.route = route;
    params.options = &opts;
    params.path = p.head.path;
    params.upstream_host = "10.0.0.1:80";
    params.client_ip = "192.0.2.1";
    params.trusted_client = trusted;
    std::string out;
    write_upstream_head(p.head, params, out);
    return out;
}

TEST(ForwardHeaders, UpstreamHeadIsReframedAndStripsHopByHop) {
    auto out = upstream_head(
        "POST /a HTTP/1.1\r\nHost: site.test\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
        "Keep-Alive: 5\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nX-End: e\r\n\r\n");
    EXPECT_EQ(out,
              "POST /a HTTP/1.1\r\nHost: site.test\r\nX-End: e\r\nX-Forwarded-For: 192.0.2.1\r\n"
              "X-Forwarded-Proto: http\r\nX-Forwarded-Host: site.test\r\nVia: 1.1 usher\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
}

TEST(ForwardHeaders, UntrustedForwardingHeadersAreReplacedTrustedAreExtended) {
    std::string req =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\n"
        "X-Forwarded-For: 2.2.2.2\r\nX-Forwarded-Proto: https\r\nVia: 1.0 edge\r\n\r\n";
    auto untrusted = upstream_head(req);
    EXPECT_NE(untrusted.find("X-Forwarded-For: 192.0.2.1\r\n"), std::string::npos) << untrusted;
    EXPECT_NE(untrusted.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
    auto trusted = upstream_head(req, {}, nullptr, true);
    EXPECT_NE(trusted.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 192.0.2.1\r\n"), std::string::npos)
        << trusted;
    EXPECT_NE(trusted.find("X-Forwarded-Proto: https\r\n"), std::string::npos);
    EXPECT_NE(trusted.find("Via: 1.0 edge, 1.1 usher\r\n"), std::string::npos) << trusted;
}

TEST(ForwardHeaders, ForwardedHeaderQuotesIpv6AndHost) {
    config::ProxyOptions opts;
    opts.forwarded = true;
    Parsed p("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
    UpstreamHeadParams params;
    params.options = &opts;
    params.path = "/";
    params.client_ip = "2001:db8::1";
    std::string out;
    write_upstream_head(p.head, params, out);
    EXPECT_NE(out.find("Forwarded: for=\"[2001:db8::1]\";host=\"h.test\";proto=http\r\n"),
              std::string::npos)
        << out;
}

TEST(ForwardHeaders, RouteEditsAndHostRewrite) {
    config::Route route;
    route.rewrite.host = "internal";
    route.request_headers.set = {{"X-Set", "s"}};
    route.request_headers.add = {{"X-Add", "a"}};
    route.request_headers.remove = {"X-Remove"};
    auto out =
        upstream_head("GET / HTTP/1.1\r\nHost: h\r\nX-Set: old\r\nX-Remove: r\r\n\r\n", {}, &route);
    EXPECT_EQ(out.find("X-Remove"), std::string::npos);
    EXPECT_EQ(out.find("old"), std::string::npos);
    EXPECT_NE(out.find("Host: internal\r\n"), std::string::npos);
    EXPECT_NE(out.find("X-Set: s\r\nX-Add: a\r\n"), std::string::npos) << out;
}

TEST(ForwardHeaders, PreserveHostOffSendsTheEndpoint) {
    config::ProxyOptions opts;
    opts.preserve_host = false;
    auto out = upstream_head("GET / HTTP/1.1\r\nHost: h\r\n\r\n", opts);
    EXPECT_NE(out.find("Host: 10.0.0.1:80\r\n"), std::string::npos) << out;
}

TEST(ForwardHeaders, DownstreamHeadHidesIdentityAndReframes) {
    std::string raw =
        "HTTP/1.1 200 OK\r\nServer: origin\r\nX-Powered-By: php\r\nConnection: X-H\r\n"
        "X-H: 1\r\nContent-Length: 10\r\nX-Keep: k\r\n\r\n";
    http::ResponseHead resp;
    ASSERT_TRUE(http::h1::parse_response_head(raw, {}, "GET", resp).ok());
    config::ProxyOptions opts;
    std::string out;
    write_downstream_head(
        resp, {.options = &opts, .framing = http::BodyFraming::chunked, .keep_alive = false}, out);
    EXPECT_EQ(
        out,
        "HTTP/1.1 200 OK\r\nX-Keep: k\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(ForwardHeaders, HeadResponseKeepsTheBackendsContentLength) {
    std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    http::ResponseHead resp;
    ASSERT_TRUE(http::h1::parse_response_head(raw, {}, "HEAD", resp).ok());
    config::ProxyOptions opts;
    std::string out;
    write_downstream_head(
        resp, {.options = &opts, .framing = http::BodyFraming::none, .head_request = true}, out);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
}

TEST(ForwardHeaders, RewritePathStripsAndReplacesPrefix) {
    config::Rewrite r;
    std::string out;
    EXPECT_FALSE(rewrite_path(r, "/api/x", out));
    r.strip_prefix = "/api";
    ASSERT_TRUE(rewrite_path(r, "/api/x?y=1", out));
    EXPECT_EQ(out, "/x?y=1");
    ASSERT_TRUE(rewrite_path(r, "/api", out));
    EXPECT_EQ(out, "/");
    r.replace_prefix = "/v1/";
    ASSERT_TRUE(rewrite_path(r, "/api/x", out));
    EXPECT_EQ(out, "/v1/x");
    EXPECT_FALSE(rewrite_path(r, "/other", out));
}

}  // namespace
}  // namespace usher::proxy

namespace usher::proxy {
namespace {

TEST(ForwardHeaders, TrailersLoseFramingAndRoutingFields) {
    std::string out;
    EXPECT_EQ(filter_trailers("X-Checksum: 1\r\nContent-Length: 5\r\nhost: evil\r\n"
                              "Transfer-Encoding: chunked\r\nX-Other: 2\r\n",
                              out),
              "X-Checksum: 1\r\nX-Other: 2\r\n");
    EXPECT_EQ(filter_trailers("", out), "");
}

}  // namespace
}  // namespace usher::proxy
