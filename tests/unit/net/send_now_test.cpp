#include "net/send_now.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio/read.hpp>
#include <string>

namespace usher::net {
namespace {

// A connected loopback TCP pair: `client` (usher's side here) and `server` (the peer).
struct TcpPair {
    asio::io_context io;
    TcpSocket client{io.get_executor()};
    asio::ip::tcp::socket server{io};
    TcpPair() {
        asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
        client.connect(acceptor.local_endpoint());
        acceptor.accept(server);
    }
    std::string read_exactly(std::size_t n) {
        std::string out(n, '\0');
        asio::read(server, asio::buffer(out));
        return out;
    }
};

TEST(SendNow, SendsEveryBufferInOrderAndSkipsEmptyOnes) {
    TcpPair p;
    std::array bufs{cbuf("GET / HTTP/1.1\r\n"), cbuf(""), cbuf("Host: a\r\n\r\n"), cbuf("body")};
    asio::error_code ec;
    EXPECT_TRUE(send_now(p.client, bufs, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(p.read_exactly(31), "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody");
}

TEST(SendNow, AFullSocketTakesPartAndLeavesTheRestForAnAsyncWrite) {
    TcpPair p;
    const int small = 4096;
    ::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::string head(100, 'h');
    const std::string body(8 * 1024 * 1024, 'b');  // far more than both socket buffers hold
    std::array bufs{cbuf(head), cbuf(body)};
    asio::error_code ec;
    EXPECT_FALSE(send_now(p.client, bufs, ec));
    EXPECT_FALSE(ec);
    // The head went first, and the buffers now start where the kernel stopped taking bytes.
    EXPECT_EQ(bufs[0].size(), 0u);
    ASSERT_GT(bufs[1].size(), 0u);
    ASSERT_LT(bufs[1].size(), body.size());
    const std::size_t sent = head.size() + body.size() - bufs[1].size();
    EXPECT_EQ(static_cast<const char*>(bufs[1].data()), body.data() + (sent - head.size()));
    // The peer reads what was sent, byte for byte.
    const std::string got = p.read_exactly(sent);
    EXPECT_EQ(got.substr(0, head.size()), head);
    EXPECT_EQ(got.find_first_not_of('b', head.size()), std::string::npos);
}

TEST(SendNow, APeerThatResetIsAnError) {
    TcpPair p;
    const linger reset{1, 0};  // close() sends a reset
    ::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    p.server.close();
    std::array bufs{cbuf("x")};
    asio::error_code ec;
    // The first send may still be taken before the reset is seen; a later one fails.
    for (int i = 0; i < 100 && !ec; ++i) {
        EXPECT_TRUE(send_now(p.client, bufs, ec) || ec);
        bufs = {cbuf("x")};
    }
    EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        << ec.message();
}

}  // namespace
}  // namespace usher::net
