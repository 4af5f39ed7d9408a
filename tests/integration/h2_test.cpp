// HTTP/2 to clients, end to end with real clients (libcurl, nghttp, h2load) against the real usher
// binary: h2c with prior knowledge on a plain listener that allows it (TLS + ALPN h2 is in
// tls_test.cpp). The backend side stays HTTP/1.1: usher translates each stream.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "integration/harness.hpp"

namespace usher::test {
namespace {

std::string h2c_config(const std::string& endpoint, const std::string& extra = "",
                       const std::string& http2 = "{h2c: true}") {
    return "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n    http2: " + http2 +
           "\nclusters:\n  app:\n    endpoints: [\"" + endpoint + "\"]\n" + extra;
}

CurlOptions h2() {
    CurlOptions o;
    o.http2 = true;
    return o;
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

TEST(H2, GetWithPriorKnowledgeReachesAnHttp11Backend) {
    auto backend = make_echo_backend();
    UsherProcess usher(h2c_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto o = h2();
    o.headers = {"Cookie: a=1", "X-Custom: yes"};
    auto r = curl_request(usher.url("/hello?x=1"), o);
    ASSERT_EQ(r.curl_code, 0) << usher.log();
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.headers.starts_with("HTTP/2 200")) << r.headers;
    // The backend got an HTTP/1.1 request with Host from :authority and the client's fields.
    EXPECT_EQ(r.body.rfind("GET /hello?x=1 HTTP/1.1\n", 0), 0u) << r.body;
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("host").value_or(""), "127.0.0.1:" + std::to_string(usher.port()));
    EXPECT_EQ(requests[0].header("x-custom").value_or(""), "yes");
    EXPECT_EQ(requests[0].header("cookie").value_or(""), "a=1");
    EXPECT_EQ(requests[0].header("x-forwarded-proto").value_or(""), "http");
    // No HTTP/2 pseudo-header or connection field leaks to HTTP/1.1.
    EXPECT_FALSE(contains(requests[0].raw_head, ":authority")) << requests[0].raw_head;

    // The same listener still speaks HTTP/1.1 to clients that do.
    auto h1 = curl_request(usher.url("/plain"));
    EXPECT_EQ(h1.status, 200);
    EXPECT_EQ(h1.http_version, CURL_HTTP_VERSION_1_1);
}

TEST(H2, ListenerWithoutH2cAnswersThePrefaceAsBadHttp11) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/"), h2());
    EXPECT_NE(r.status, 200);
    EXPECT_TRUE(backend->requests().empty());
}

TEST(H2, RequestBodiesLargerThanTheWindowAreForwardedWhole) {
    auto backend = make_echo_backend();
    UsherProcess usher(h2c_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    // 1 MiB: sixteen times the 64 KiB stream window, so usher must re-open it as it forwards.
    std::string body(1 << 20, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) {
        body[i] = static_cast<char>('a' + (i * 7) % 26);
    }
    auto o = h2();
    o.method = "POST";
    o.body = body;
    auto r = curl_request(usher.url("/upload"), o);
    ASSERT_EQ(r.curl_code, 0) << usher.log();
    EXPECT_EQ(r.status, 200);
    ASSERT_GE(r.body.size(), body.size());
    EXPECT_TRUE(r.body.ends_with(body)) << "body altered in transit";
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("content-length").value_or(""), std::to_string(body.size()));
}

TEST(H2, BodyOfUnknownLengthGoesUpstreamChunked) {
    auto backend = make_echo_backend();
    UsherProcess usher(h2c_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    // curl sends no content-length over HTTP/2 for a chunked upload: DATA frames until END_STREAM.
    const std::string file = "/tmp/usher-h2-upload-" + std::to_string(::getpid());
    ASSERT_EQ(sh("head -c 200000 /dev/urandom | base64 -w0 > " + file).exit_code, 0);
    auto out =
        sh("curl -s --http2-prior-knowledge -H 'Transfer-Encoding: chunked' --data-binary @" +
           file + " " + usher.url("/chunked") + " | tail -c 100; tail -c 100 " + file);
    std::remove(file.c_str());
    ASSERT_EQ(out.out.size(), 200u) << out.out;
    EXPECT_EQ(out.out.substr(0, 100), out.out.substr(100)) << "the echoed body ends differently";
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("transfer-encoding").value_or(""), "chunked");
    EXPECT_FALSE(requests[0].header("content-length"));
}

TEST(H2, LargeResponsesFlowWithinTheClientsWindows) {
    std::string big(8 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('A' + (i * 13) % 26);
    }
    FakeBackend backend(FakeBackend::responder(200, big));
    UsherProcess usher(h2c_config(backend.address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/big"), h2());
    ASSERT_EQ(r.curl_code, 0) << usher.log();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), big.size());
    EXPECT_TRUE(r.body == big);
    // Streamed, not buffered: usher's memory did not grow by the body's size. (Not under
    // AddressSanitizer: its shadow memory and quarantine inflate RSS regardless.)
#if !defined(__SANITIZE_ADDRESS__)
    EXPECT_LT(usher.rss_peak_kib(), 64 * 1024) << "peak RSS KiB";
#endif
}

TEST(H2, ChunkedResponseTrailersBecomeHttp2Trailers) {
    FakeBackend backend([](int fd, int) {
        std::string buffer;
        while (read_request(fd, buffer)) {
            send_all(fd,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\n"
                     "content-length: 99\r\n\r\n");
        }
    });
    UsherProcess usher(h2c_config(backend.address(), "", "{h2c: true}"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto out = sh("timeout 10 nghttp -nv " + usher.url("/t"));
    EXPECT_TRUE(contains(out.out, "recv DATA frame")) << out.out;
    EXPECT_TRUE(contains(out.out, "x-checksum: abc123")) << out.out;
    // A trailer may not smuggle framing fields (RFC 9110 section 6.5.1).
    EXPECT_FALSE(contains(out.out, "content-length: 99")) << out.out;
    auto r = curl_request(usher.url("/t"), h2());
    EXPECT_EQ(r.body, "hello world");
}

TEST(H2, LocalRepliesAndRedirectsAreStreams) {
    auto backend = make_echo_backend();
    UsherProcess usher(h2c_config(backend->address(),
                                  "routes:\n  - match: {path: /old}\n    redirect: {to: /new}\n"
                                  "  - match: {path: /app}\n    cluster: app\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto missing = curl_request(usher.url("/nothing"), h2());
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_TRUE(contains(missing.body, "404")) << missing.body;
    auto moved = curl_request(usher.url("/old"), h2());
    EXPECT_TRUE(moved.status == 301 || moved.status == 302 || moved.status == 307 ||
                moved.status == 308)
        << moved.status;
    EXPECT_TRUE(contains(moved.headers, "location: /new")) << moved.headers;
    auto head = h2();
    head.method = "HEAD";
    auto h = curl_request(usher.url("/app"), head);
    EXPECT_EQ(h.status, 200);
    EXPECT_TRUE(h.body.empty());
}

TEST(H2, ManyConcurrentStreamsWithH2load) {
    auto backend = make_echo_backend();
    UsherProcess usher(h2c_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto out = sh("timeout 60 h2load -n 600 -c 3 -m 20 " + usher.url("/load"));
    EXPECT_TRUE(contains(out.out, "600 succeeded, 0 failed")) << out.out;
    EXPECT_TRUE(contains(out.out, "status codes: 600 2xx")) << out.out;
    EXPECT_EQ(backend->requests().size(), 600u);
}

TEST(H2, BackendDyingMidBodyResetsOnlyThatStream) {
    std::atomic<int> calls{0};
    FakeBackend backend([&](int fd, int) {
        std::string buffer;
        while (auto req = read_request(fd, buffer)) {
            if (req->start_line.starts_with("GET /broken")) {
                // Promises 1000 bytes, sends 100, dies.
                send_all(fd,
                         "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'x'));
                ++calls;
                return;
            }
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    UsherProcess usher(h2c_config(backend.address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto broken = curl_request(usher.url("/broken"), h2());
    EXPECT_NE(broken.curl_code, 0) << "a truncated body must not look complete";
    EXPECT_LT(broken.body.size(), 1000u);
    EXPECT_EQ(calls.load(), 1);
    // One nghttp connection: the broken stream is reset, the other stream on it completes.
    auto out = sh("timeout 10 nghttp -nv " + usher.url("/broken") + " " + usher.url("/fine"));
    EXPECT_TRUE(contains(out.out, "recv RST_STREAM")) << out.out;
    EXPECT_TRUE(contains(out.out, ":status: 200")) << out.out;
    EXPECT_FALSE(contains(out.out, "recv GOAWAY")) << "the connection survives\n" << out.out;
}

TEST(H2, ShutdownLetsStreamsInFlightFinish) {
    FakeBackend backend([](int fd, int) {
        std::string buffer;
        while (read_request(fd, buffer)) {
            std::this_thread::sleep_for(600ms);  // a slow backend, not a synchronisation
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
        }
    });
    UsherProcess usher(h2c_config(backend.address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlResult r;
    std::thread client([&] { r = curl_request(usher.url("/slow"), h2()); });
    // Stop once the request reached the backend.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (backend.connections() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    usher.signal(SIGTERM);
    client.join();
    EXPECT_EQ(r.curl_code, 0);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "slow");
    EXPECT_EQ(usher.stop(), 0);
}

}  // namespace
}  // namespace usher::test
