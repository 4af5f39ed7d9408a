// Every timeout ends in its documented outcome: 408 for a stalled request head or body, a silent
// close for an idle keep-alive client, 503 for an upstream connect timeout, 504 for a missing
// response head or the total limit, a truncated transfer when the backend stalls mid-body.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string config(const std::string& backend, const std::string& timeouts) {
    return "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\ntimeouts: {" + timeouts +
           "}\nclusters:\n  app:\n    endpoints: [\"" + backend + "\"]\n";
}

// A backend that reads requests and never answers (until the test ends).
FakeBackend::Handler silent() {
    return [](int fd, int) { read_to_close(fd, 10s); };
}

TEST(Timeouts, StalledRequestHeadGets408) {
    auto backend = make_echo_backend();
    UsherProcess usher(config(backend->address(), "request_header: 300ms"));
    ASSERT_TRUE(usher.started()) << usher.log();
    int fd = connect_to(usher.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    auto start = Clock::now();
    auto bytes = read_to_close(fd, 5s);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 408);
    EXPECT_LT(Clock::now() - start, 3s);
}

TEST(Timeouts, SlowlorisDripFeedStillGets408) {
    auto backend = make_echo_backend();
    UsherProcess usher(config(backend->address(), "request_header: 500ms"));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    send_all(fd, head);
    // One byte every 100 ms: each read is "recent", but the head as a whole is late.
    bool answered = false;
    for (int i = 0; i < 30 && !answered; ++i) {
        std::this_thread::sleep_for(100ms);
        pollfd p{fd, POLLIN, 0};
        answered = ::poll(&p, 1, 0) > 0 || !send_all(fd, "a");
    }
    auto bytes = read_to_close(fd, 2s);
    ::close(fd);
    auto m = parse_response(bytes);
    if (m) {
        EXPECT_EQ(m->status(), 408);
    } else {
        EXPECT_TRUE(answered) << "usher kept a drip-fed head open for 3 s";
    }
    EXPECT_EQ(backend->connections(), 0);
}

TEST(Timeouts, IdleKeepAliveConnectionClosedSilently) {
    auto backend = make_echo_backend();
    UsherProcess usher(config(backend->address(), "client_idle: 300ms"));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto first = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ASSERT_TRUE(parse_response(first));
    auto start = Clock::now();
    auto rest = read_to_close(fd, 5s);
    ::close(fd);
    EXPECT_EQ(rest, "") << "an idle close sends nothing";
    EXPECT_LT(Clock::now() - start, 3s);
    EXPECT_GE(Clock::now() - start, 250ms);
}

TEST(Timeouts, StalledRequestBodyGets408) {
    auto backend = make_echo_backend();
    UsherProcess usher(config(backend->address(), "client_idle: 300ms"));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial");
    auto bytes = read_to_close(fd, 5s);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 408);
}

TEST(Timeouts, MissingResponseHeadGets504) {
    FakeBackend backend(silent());
    UsherProcess usher(config(backend.address(), "upstream_header: 300ms"));
    ASSERT_TRUE(usher.started());
    auto r = curl_request(usher.url("/"));
    EXPECT_EQ(r.status, 504);
    EXPECT_LT(r.total_time, 3.0);
}

TEST(Timeouts, UpstreamConnectTimeoutGets503) {
    // A listener whose accept queue is full and never drained drops further SYNs: connects hang.
    FakeBackend backend(nullptr, 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(backend.port()));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        fillers.push_back(fd);
    }
    std::this_thread::sleep_for(100ms);
    UsherProcess usher(config(backend.address(), "connect: 300ms"));
    ASSERT_TRUE(usher.started());
    auto r = curl_request(usher.url("/"));
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_LT(r.total_time, 3.0);
    for (int fd : fillers) {
        ::close(fd);
    }
}

TEST(Timeouts, BackendStallingMidBodyTruncatesTheTransfer) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!");
            read_to_close(fd, 10s);
        }
    });
    UsherProcess usher(config(backend.address(), "upstream_idle: 300ms"));
    ASSERT_TRUE(usher.started());
    auto r = curl_request(usher.url("/"));
    EXPECT_EQ(r.curl_code, 18) << "CURLE_PARTIAL_FILE expected, got " << r.curl_code;
    EXPECT_EQ(r.body, "only-ten!!");
}

TEST(Timeouts, TotalLimitPerRouteGets504) {
    FakeBackend backend(silent());
    UsherProcess usher(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    endpoints: [\"" +
        backend.address() +
        "\"]\nroutes:\n"
        "  - cluster: app\n    timeouts: {total: 400ms}\n");
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(usher.url("/"));
    EXPECT_EQ(r.status, 504);
    EXPECT_LT(r.total_time, 3.0);
}

}  // namespace
}  // namespace usher::test
