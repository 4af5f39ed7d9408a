// Forwarding through the real usher binary: keep-alive reuse, pipelining, HTTP/1.0, HEAD,
// 100-continue, headers added and removed, routing actions and local replies.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "harness.hpp"

namespace usher::test {
namespace {

std::string basic_config(const std::string& backend, const std::string& extra = "") {
    return cluster_config(backend, extra);
}

TEST(Proxy, ForwardsAndReusesUpstreamConnections) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlClient client;
    for (int i = 0; i < 50; ++i) {
        auto r = client.get(usher.url("/item/" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_NE(r.body.find("GET /item/" + std::to_string(i) + " HTTP/1.1"), std::string::npos);
    }
    EXPECT_EQ(client.connects(), 1) << "the client connection was not kept alive";
    EXPECT_LE(backend->connections(), 2) << "usher opened a connection per request upstream";
}

TEST(Proxy, PipelinedRequestsAnsweredInOrder) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    ASSERT_GE(fd, 0);
    std::string batch;
    for (int i = 0; i < 5; ++i) {
        batch += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    }
    ASSERT_TRUE(send_all(fd, batch));
    auto bytes = read_until(fd, [](const std::string& s) {
        std::size_t pos = 0, n = 0, used = 0;
        std::string rest = s;
        while (auto m = parse_response(rest, &used)) {
            ++n;
            rest.erase(0, used);
        }
        (void)pos;
        return n == 5;
    });
    ::close(fd);
    std::size_t used = 0;
    for (int i = 0; i < 5; ++i) {
        auto m = parse_response(bytes, &used);
        ASSERT_TRUE(m) << "response " << i << " missing";
        EXPECT_EQ(m->status(), 200);
        EXPECT_EQ(m->body.rfind("GET /p" + std::to_string(i) + " ", 0), 0u) << m->body;
        bytes.erase(0, used);
    }
}

TEST(Proxy, Http10ClientGetsCloseDelimitedOrLengthResponse) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    ASSERT_TRUE(send_all(fd, "GET /old HTTP/1.0\r\n\r\n"));
    auto bytes = read_to_close(fd);  // HTTP/1.0 without keep-alive: usher must close
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 200);
    EXPECT_NE(m->body.find("GET /old HTTP/1.1"), std::string::npos) << "upstream is HTTP/1.1";
}

TEST(Proxy, HeadResponseHasNoBodyButKeepsLength) {
    FakeBackend backend(FakeBackend::responder(200, "twelve bytes"));
    UsherProcess usher(basic_config(backend.address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    ASSERT_TRUE(
        send_all(fd, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto bytes = read_until(
        fd, [](const std::string& s) { return s.find("twelve bytes") != std::string::npos; });
    ::close(fd);
    std::size_t used = 0;
    auto head = parse_response(bytes, &used, true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->header("content-length").value_or(""), "12");
    auto get = parse_response(bytes.substr(used));
    ASSERT_TRUE(get) << bytes;
    EXPECT_EQ(get->body, "twelve bytes");
}

TEST(Proxy, ExpectContinueGetsInterimResponseBeforeBody) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    ASSERT_TRUE(send_all(
        fd, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = read_until(
        fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
    EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << interim;
    ASSERT_TRUE(send_all(fd, "hello"));
    auto bytes = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 200);
    EXPECT_NE(m->body.find("\n\nhello"), std::string::npos);
    auto reqs = backend->requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_FALSE(reqs[0].header("expect")) << "Expect is answered by usher, not forwarded";
}

TEST(Proxy, RemovesHopByHopHeadersAndAddsForwardingHeaders) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started());
    auto r = curl_request(
        usher.url("/h"),
        {.headers = {"Connection: keep-alive, X-Secret-Hop", "X-Secret-Hop: 1",
                     "Keep-Alive: timeout=5", "Proxy-Connection: keep-alive",
                     "TE: trailers, deflate", "X-Forwarded-For: 6.6.6.6",
                     "X-Forwarded-Proto: https", "X-Kept: yes", "Host: example.test"}});
    ASSERT_EQ(r.status, 200);
    auto reqs = backend->requests();
    ASSERT_EQ(reqs.size(), 1u);
    const auto& q = reqs[0];
    EXPECT_FALSE(q.header("x-secret-hop")) << "a header named by Connection must be removed";
    EXPECT_FALSE(q.header("keep-alive"));
    EXPECT_FALSE(q.header("proxy-connection"));
    EXPECT_EQ(q.header("te").value_or(""), "trailers");
    EXPECT_EQ(q.header("x-forwarded-for").value_or(""), "127.0.0.1") << "untrusted XFF replaced";
    EXPECT_EQ(q.header("x-forwarded-proto").value_or(""), "http");
    EXPECT_EQ(q.header("x-forwarded-host").value_or(""), "example.test");
    EXPECT_EQ(q.header("host").value_or(""), "example.test") << "Host preserved by default";
    EXPECT_EQ(q.header("via").value_or(""), "1.1 usher");
    EXPECT_EQ(q.header("x-kept").value_or(""), "yes");
    EXPECT_EQ(q.count("host"), 1);
}

TEST(Proxy, TrustedProxyForwardingHeadersAreExtended) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(
        backend->address(), "proxy:\n  trusted_proxies: [\"127.0.0.0/8\"]\n  forwarded: true\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(
        usher.url("/"), {.headers = {"X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https"}});
    ASSERT_EQ(r.status, 200);
    auto q = backend->requests().at(0);
    EXPECT_EQ(q.header("x-forwarded-for").value_or(""), "203.0.113.9, 127.0.0.1");
    EXPECT_EQ(q.header("x-forwarded-proto").value_or(""), "https");
    EXPECT_NE(q.header("forwarded").value_or("").find("for=127.0.0.1"), std::string::npos);
}

TEST(Proxy, HidesBackendIdentityHeadersAndAppliesRouteEdits) {
    FakeBackend backend(FakeBackend::responder(
        200, "ok", {{"Server", "secret-origin/1.0"}, {"X-Powered-By", "PHP"}, {"X-Drop", "1"}}));
    UsherProcess usher(
        basic_config(backend.address(),
                     "routes:\n  - cluster: app\n    response_headers:\n"
                     "      set: {X-Frame-Options: DENY}\n      remove: [X-Drop]\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.find("secret-origin"), std::string::npos) << r.headers;
    EXPECT_EQ(r.headers.find("X-Powered-By"), std::string::npos) << r.headers;
    EXPECT_EQ(r.headers.find("X-Drop"), std::string::npos) << r.headers;
    EXPECT_NE(r.headers.find("X-Frame-Options: DENY"), std::string::npos) << r.headers;
}

TEST(Routing, MatchesHostPathMethodHeaderCookieAndQuery) {
    FakeBackend a(FakeBackend::responder(200, "A"));
    FakeBackend b(FakeBackend::responder(200, "B"));
    std::string cfg =
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n"
        "clusters:\n  a: {endpoints: [\"" +
        a.address() + "\"]}\n  b: {endpoints: [\"" + b.address() +
        "\"]}\n"
        "routes:\n"
        "  - {name: host, match: {host: \"*.b.test\"}, cluster: b}\n"
        "  - {name: hdr, match: {headers: [{name: X-Env, equals: canary}]}, cluster: b}\n"
        "  - {name: cookie, match: {cookies: [{name: beta, equals: \"1\"}]}, cluster: b}\n"
        "  - {name: query, match: {path: {exact: /q}, query: [{name: v, equals: \"2\"}]}, cluster: "
        "b}\n"
        "  - {name: post, match: {path: {prefix: /api}, method: [POST]}, cluster: b}\n"
        "  - {name: rx, match: {path: {regex: \"^/v[0-9]+/\"}}, cluster: b}\n"
        "  - {name: moved, match: {path: /old}, redirect: {status: 308, to: "
        "\"https://new.test/\"}}\n"
        "  - {name: hello, match: {path: {exact: /hello}}, respond: {status: 200, body: "
        "\"hi\\n\"}}\n"
        "  - {name: api, match: {path: /api}, cluster: a}\n";
    UsherProcess usher(cfg);
    ASSERT_TRUE(usher.started()) << usher.log();
    auto body = [&](const std::string& path, CurlOptions o = {}) {
        auto r = curl_request(usher.url(path), o);
        return std::to_string(r.status) + ":" + r.body;
    };
    EXPECT_EQ(body("/x", {.headers = {"Host: www.b.test"}}), "200:B");
    EXPECT_EQ(body("/x", {.headers = {"Host: b.test"}}), "404:404 Not Found\n")
        << "apex is not *.b.test";
    EXPECT_EQ(body("/api", {.headers = {"X-Env: canary"}}), "200:B");
    EXPECT_EQ(body("/api", {.headers = {"Cookie: a=0; beta=1"}}), "200:B");
    EXPECT_EQ(body("/q?x=1&v=2"), "200:B");
    EXPECT_EQ(body("/q?v=3"), "404:404 Not Found\n");
    EXPECT_EQ(body("/api/items", {.method = "POST", .body = "x"}), "200:B");
    EXPECT_EQ(body("/api/items"), "200:A");
    EXPECT_EQ(body("/v2/users"), "200:B");
    EXPECT_EQ(body("/hello"), "200:hi\n");
    auto r = curl_request(usher.url("/old"));
    EXPECT_EQ(r.status, 308);
    EXPECT_NE(r.headers.find("Location: https://new.test/"), std::string::npos);
    auto json = curl_request(usher.url("/nowhere"), {.headers = {"Accept: application/json"}});
    EXPECT_EQ(json.status, 404);
    EXPECT_EQ(json.body, "{\"status\":404,\"error\":\"Not Found\"}\n");
}

TEST(Routing, StripsAndReplacesPathPrefixAndRewritesHost) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(
        backend->address(),
        "routes:\n  - match: {path: /api}\n    cluster: app\n"
        "    rewrite: {strip_prefix: /api, replace_prefix: /v1, host: internal.test}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/api/users?id=3"));
    ASSERT_EQ(r.status, 200);
    auto q = backend->requests().at(0);
    EXPECT_EQ(q.start_line, "GET /v1/users?id=3 HTTP/1.1");
    EXPECT_EQ(q.header("host").value_or(""), "internal.test");
}

TEST(Proxy, BodyOverRouteLimitGets413WithoutReachingBackend) {
    auto backend = make_echo_backend();
    UsherProcess usher(
        basic_config(backend->address(), "routes:\n  - cluster: app\n    max_body: 1KiB\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/"), {.method = "POST", .body = std::string(2000, 'x')});
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(backend->connections(), 0);
    int fd = connect_to(usher.port());
    std::string chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) {
        chunked += "200\r\n" + std::string(512, 'y') + "\r\n";
    }
    chunked += "0\r\n\r\n";
    send_all(fd, chunked);
    auto bytes = read_to_close(fd);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 413);
}

TEST(Proxy, OversizedRequestLineAndHeadersGet414And431) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(
        backend->address(),
        "limits: {max_request_line: 1KiB, max_header_bytes: 4KiB, max_header_count: 10}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    EXPECT_EQ(curl_request(usher.url("/" + std::string(2000, 'a'))).status, 414);
    EXPECT_EQ(
        curl_request(usher.url("/"), {.headers = {"X-Big: " + std::string(5000, 'b')}}).status,
        431);
    std::vector<std::string> many;
    for (int i = 0; i < 12; ++i) {
        many.push_back("X-H" + std::to_string(i) + ": v");
    }
    EXPECT_EQ(curl_request(usher.url("/"), {.headers = many}).status, 431);
    EXPECT_EQ(backend->connections(), 0);
}

TEST(Proxy, ConnectFailureGives502AndTriesOtherEndpoints) {
    // A port with nothing listening: bind then close.
    int dead_port;
    {
        FakeBackend tmp(nullptr);
        dead_port = tmp.port();
    }
    auto live = make_echo_backend();
    UsherProcess only_dead(basic_config("127.0.0.1:" + std::to_string(dead_port)));
    ASSERT_TRUE(only_dead.started()) << only_dead.log();
    auto r = curl_request(only_dead.url("/"));
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.body.find("127.0.0.1"), std::string::npos) << "never reveal backend addresses";

    std::string cfg =
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"127.0.0.1:" +
        std::to_string(dead_port) + "\", \"" + live->address() + "\"]\n";
    UsherProcess usher(cfg);
    ASSERT_TRUE(usher.started());
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(curl_request(usher.url("/")).status, 200) << "request " << i;
    }
}

TEST(Proxy, RoundRobinsAcrossEndpoints) {
    FakeBackend a(FakeBackend::responder(200, "A"));
    FakeBackend b(FakeBackend::responder(200, "B"));
    std::string cfg =
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        a.address() + "\", \"" + b.address() + "\"]\n";
    UsherProcess usher(cfg);
    ASSERT_TRUE(usher.started());
    std::string seen;
    for (int i = 0; i < 6; ++i) {
        seen += curl_request(usher.url("/")).body;
    }
    EXPECT_TRUE(seen == "ABABAB" || seen == "BABABA") << seen;
}

TEST(Proxy, StaleReusedConnectionIsRetriedOnAFreshOne) {
    // The backend answers one request per connection but claims keep-alive, then closes.
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        // give usher time to pool it, then close behind its back
        std::this_thread::sleep_for(50ms);
    });
    UsherProcess usher(basic_config(backend.address()));
    ASSERT_TRUE(usher.started());
    for (int i = 0; i < 3; ++i) {
        auto r = curl_request(usher.url("/"));
        EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
        std::this_thread::sleep_for(150ms);  // let the backend close the pooled connection
    }
}

TEST(AccessLog, WritesOneCombinedLinePerRequest) {
    auto backend = make_echo_backend();
    char tmpl[] = "/tmp/usher-al-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/access.log";
    UsherProcess usher(
        basic_config(backend->address(), "access_log: {path: \"" + path + "\", format: json}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (int i = 0; i < 3; ++i) {
        curl_request(usher.url("/logged?i=" + std::to_string(i)),
                     {.headers = {"User-Agent: tester"}});
    }
    EXPECT_EQ(usher.stop(), 0);
    std::ifstream in(path);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        EXPECT_NE(line.find("\"method\":\"GET\""), std::string::npos) << line;
        EXPECT_NE(line.find("\"path\":\"/logged?i="), std::string::npos) << line;
        EXPECT_NE(line.find("\"status\":200"), std::string::npos) << line;
        EXPECT_NE(line.find("\"upstream\":\"" + backend->address() + "\""), std::string::npos);
        EXPECT_NE(line.find("\"user_agent\":\"tester\""), std::string::npos);
        EXPECT_NE(line.find("\"upstream_first_byte\":"), std::string::npos);
    }
    EXPECT_EQ(lines, 3);
    std::string cmd = "rm -rf '" + dir + "'";
    [[maybe_unused]] int ignored = std::system(cmd.c_str());
}

}  // namespace
}  // namespace usher::test

namespace usher::test {
namespace {

TEST(Proxy, InterimResponsesAreRelayedBeforeTheFinalOne) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd,
                     "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
        }
    });
    UsherProcess usher(cluster_config(backend.address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto bytes =
        read_until(fd, [](const std::string& s) { return s.find("done") != std::string::npos; });
    ::close(fd);
    EXPECT_EQ(bytes.rfind("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", 0),
              0u)
        << bytes;
    EXPECT_NE(bytes.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
}

TEST(Pool, MaxRequestsPerUpstreamConnectionIsHonoured) {
    auto backend = make_echo_backend();
    UsherProcess usher(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        backend->address() + "\"]\n    pool: {max_requests: 2}\n");
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlClient client;
    for (int i = 0; i < 6; ++i) {
        ASSERT_EQ(client.get(usher.url("/")).status, 200);
    }
    EXPECT_EQ(backend->connections(), 3);
}

TEST(Pool, IdleUpstreamConnectionsExpire) {
    auto backend = make_echo_backend();
    UsherProcess usher(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        backend->address() + "\"]\n    pool: {idle_timeout: 200ms}\n");
    ASSERT_TRUE(usher.started()) << usher.log();
    ASSERT_EQ(curl_request(usher.url("/")).status, 200);
    std::this_thread::sleep_for(1500ms);  // longer than idle_timeout plus one sweep (1 s)
    ASSERT_EQ(curl_request(usher.url("/")).status, 200);
    EXPECT_EQ(backend->connections(), 2) << "the expired idle connection was reused";
}

TEST(Listener, RunningOutOfFileDescriptorsBacksOffAndRecovers) {
    auto backend = make_echo_backend();
    // 64 descriptors: usher's own files plus a few dozen client connections.
    UsherProcess usher(cluster_config(backend->address()), {}, 64);
    ASSERT_TRUE(usher.started()) << usher.log();
    std::vector<int> hogs;
    for (int i = 0; i < 100; ++i) {
        int fd = connect_to(usher.port());  // the kernel completes handshakes into the backlog
        if (fd >= 0) {
            hogs.push_back(fd);
        }
    }
    std::this_thread::sleep_for(300ms);
    EXPECT_NE(usher.log().find("pausing accepts"), std::string::npos) << usher.log();
    for (int fd : hogs) {
        ::close(fd);
    }
    // Once descriptors are free again, usher serves normally (it neither died nor spins).
    CurlResult r;
    for (int i = 0; i < 50 && r.status != 200; ++i) {
        r = curl_request(usher.url("/after"));
        if (r.status != 200) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(usher.stop(), 0);
}

}  // namespace
}  // namespace usher::test

namespace usher::test {
namespace {

TEST(Proxy, ConnectIsRefusedAndNeverReachesTheBackend) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "CONNECT internal.test:22 HTTP/1.1\r\nHost: internal.test:22\r\n\r\n");
    auto bytes = read_to_close(fd);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 405);
    EXPECT_TRUE(m->header("allow").has_value());
    EXPECT_EQ(backend->connections(), 0);
}

TEST(Proxy, AbsoluteFormTargetIsForwardedAsOriginForm) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "GET http://site.test/a/b?c=d HTTP/1.1\r\nHost: site.test\r\n\r\n");
    auto bytes = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 200);
    auto q = backend->requests().at(0);
    EXPECT_EQ(q.start_line, "GET /a/b?c=d HTTP/1.1");
    EXPECT_EQ(q.header("host").value_or(""), "site.test");
}

// After usher's FIN the client sends a few more bytes and its own FIN, then waits for the
// connection to end: the socket error tells whether usher was still reading (a lingering close,
// RFC 9112 section 9.6: the bytes are discarded, 0) or had closed outright (the kernel answers
// the bytes with a reset: ECONNRESET, or EPIPE if it came before the client's FIN). -1 if the
// connection did not end within 5 s.
int error_after_sending_past_close(int fd) {
    send_all(fd, "more bytes");
    ::shutdown(fd, SHUT_WR);
    pollfd p{fd, 0, 0};  // POLLHUP and POLLERR are always reported
    if (::poll(&p, 1, 5000) != 1) {
        return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

TEST(Proxy, OnlyAClientThatMaySendMoreGetsALingeringClose) {
    auto backend = make_echo_backend();
    UsherProcess usher(basic_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    // Asked to close, no body, nothing after its request: it has nothing more to send.
    int fd = connect_to(usher.port());
    send_all(fd, "GET /done HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto bytes = read_to_close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 200);
    const int err = error_after_sending_past_close(fd);
    EXPECT_TRUE(err == ECONNRESET || err == EPIPE) << "usher kept reading (error " << err << ")";
    ::close(fd);
    // Closed by usher after a bad request on a keep-alive connection: more may be in flight.
    fd = connect_to(usher.port());
    send_all(fd, "GET /bad HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
    bytes = read_to_close(fd);
    m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 400);
    EXPECT_EQ(error_after_sending_past_close(fd), 0) << "usher did not linger";
    ::close(fd);
}

}  // namespace
}  // namespace usher::test
