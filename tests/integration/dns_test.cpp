// DNS re-resolution through the real binary: an endpoint given by hostname is re-resolved every
// resolve_interval on the checker thread, and requests keep flowing across refreshes.
#include <gtest/gtest.h>
#include <netdb.h>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

// True when "localhost" resolves to 127.0.0.1 only (the fake backend listens there alone).
bool localhost_is_only_ipv4_loopback() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo("localhost", "80", &hints, &res) != 0) {
        return false;
    }
    bool only = true;
    for (auto* r = res; r != nullptr; r = r->ai_next) {
        only = only && r->ai_family == AF_INET &&
               reinterpret_cast<sockaddr_in*>(r->ai_addr)->sin_addr.s_addr == htonl(0x7f000001);
    }
    ::freeaddrinfo(res);
    return only;
}

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

TEST(Dns, HostnameEndpointIsReresolvedWhileRequestsFlow) {
    if (!localhost_is_only_ipv4_loopback()) {
        GTEST_SKIP() << "localhost resolves to more than 127.0.0.1 here";
    }
    FakeBackend backend(FakeBackend::responder(200, "hello"));
    UsherProcess usher(cluster_config("localhost:" + std::to_string(backend.port()),
                                      "    resolve_interval: 1s\n", 2),
                       {"--log-level", "debug"});
    ASSERT_TRUE(usher.started()) << usher.log();
    const std::string refreshed = "dns: cluster app: 1 address(es), unchanged";

    // Requests across at least three refreshes (1s is the minimum interval), each one answered by
    // the backend.
    const auto deadline = Clock::now() + 10s;
    int requests = 0;
    while (count(usher.log(), refreshed) < 3 && Clock::now() < deadline) {
        auto r = curl_request(usher.url("/"));
        ASSERT_EQ(r.status, 200) << "request " << requests << "\n" << usher.log();
        EXPECT_EQ(r.body, "hello");
        ++requests;
    }
    const auto log = usher.log();
    EXPECT_GE(count(log, refreshed), 3u) << log;
    EXPECT_GT(requests, 3);
    EXPECT_EQ(log.find("now 127.0.0.1"), std::string::npos) << "an unchanged set was published";
    EXPECT_EQ(log.find("cannot resolve"), std::string::npos) << log;
    EXPECT_EQ(usher.stop(), 0);
}

}  // namespace
}  // namespace usher::test
