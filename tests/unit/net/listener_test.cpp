#include "net/listener.hpp"

#include <gtest/gtest.h>

namespace usher::net {
namespace {

TEST(CidrSet, MatchesV4V6AndMappedAddresses) {
    CidrSet set;
    std::string error;
    ASSERT_TRUE(CidrSet::parse("10.0.0.0/8", set, &error)) << error;
    ASSERT_TRUE(CidrSet::parse("192.0.2.7", set, &error)) << error;
    ASSERT_TRUE(CidrSet::parse("2001:db8::/32", set, &error)) << error;
    auto ip = [](const char* s) { return asio::ip::make_address(s); };
    EXPECT_TRUE(set.contains(ip("10.255.1.2")));
    EXPECT_FALSE(set.contains(ip("11.0.0.1")));
    EXPECT_TRUE(set.contains(ip("192.0.2.7")));
    EXPECT_FALSE(set.contains(ip("192.0.2.8")));
    EXPECT_TRUE(set.contains(ip("2001:db8:1::5")));
    EXPECT_FALSE(set.contains(ip("2001:db9::1")));
    EXPECT_TRUE(set.contains(ip("::ffff:10.1.2.3")));
}

TEST(CidrSet, RejectsBadEntriesWithAReason) {
    CidrSet set;
    std::string error;
    EXPECT_FALSE(CidrSet::parse("10.0.0.0/33", set, &error));
    EXPECT_NE(error.find("0-32"), std::string::npos) << error;
    EXPECT_FALSE(CidrSet::parse("not-an-ip/8", set, &error));
    EXPECT_FALSE(CidrSet::parse("10.0.0.0/", set, &error));
    EXPECT_TRUE(set.empty());
}

TEST(Listener, PortZeroBindsAndReusePortAllowsASecondSocket) {
    asio::io_context io;
    TcpAcceptor a(io.get_executor()), b(io.get_executor());
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    ASSERT_FALSE(open_listener(a, ep, 16));
    auto port = a.local_endpoint().port();
    EXPECT_NE(port, 0);
    ep.port(port);
    EXPECT_FALSE(open_listener(b, ep, 16)) << "SO_REUSEPORT lets each worker bind the same port";
}

}  // namespace
}  // namespace usher::net
