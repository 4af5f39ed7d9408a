// TlsSession over a loopback socket in an io_context, against an OpenSSL client: handshake and
// echo, gather writes, accessors, cancellation by socket.cancel(), and buffered input.
#include "net/tls_session.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <array>

#include "net/tls_context.hpp"
#include "unit/net/test_certs.hpp"
#include "unit/net/tls_test_client.hpp"

namespace usher::net {
namespace {

class TlsSessionTest : public testing::Test {
  protected:
    test::TempDir dir;
    test::CertFiles cert = test::make_cert(dir, "s", {.common_name = "s", .dns = {"s.test"}});
    std::shared_ptr<const TlsServerContext> ctx = [this] {
        config::ListenerTls tls;
        tls.certificates = {{cert.cert, cert.key, ""}};
        return TlsServerContext::build(tls).context;
    }();
};

TEST_F(TlsSessionTest, HandshakeAndEchoReportConnectionFacts) {
    ASSERT_TRUE(ctx);
    const auto r =
        test::exchange(*ctx, {.sni = "s.test", .alpn = {"http/1.1"}, .send = "hello tls"});
    EXPECT_FALSE(r.server.handshake) << r.server.handshake.message();
    EXPECT_TRUE(r.client.echo_ok) << r.client.error;
    EXPECT_EQ(r.client.echoed, "hello tls");
    EXPECT_EQ(r.server.server_name, "s.test");
    EXPECT_EQ(r.server.alpn, "http/1.1");
    EXPECT_EQ(r.server.version, "TLSv1.3");
    EXPECT_EQ(r.server.cipher, "TLS_AES_128_GCM_SHA256");
    EXPECT_FALSE(r.server.resumed);
    EXPECT_EQ(r.server.subject, "");
    EXPECT_EQ(r.server.read_error, asio::error::eof);  // the client's close_notify
}

TEST_F(TlsSessionTest, GatherWriteSendsEveryPieceInOrder) {
    ASSERT_TRUE(ctx);
    // Small pieces (coalesced), then one larger than a record, then small ones again.
    std::string big(40 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    const std::string expected =
        "HTTP/1.1 200 OK\r\n" + std::string("k: v\r\n") + "\r\n" + big + "tail";
    const auto r = test::exchange(
        *ctx, {.send = "go", .expect_bytes = expected.size()},
        [&](TcpSocket&, TlsSession& session, test::ServerResult& s) -> Task<void> {
            std::array<char, 16> buf{};
            const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
            (void)n;
            std::array<asio::const_buffer, 5> pieces{cbuf("HTTP/1.1 200 OK\r\n"), cbuf("k: v\r\n"),
                                                     cbuf("\r\n"), cbuf(big), cbuf("tail")};
            s.read_error = ec ? ec : co_await session.write(pieces);
            co_await session.shutdown();
        });
    EXPECT_FALSE(r.server.read_error) << r.server.read_error.message();
    EXPECT_EQ(r.client.echoed.size(), expected.size()) << r.client.error;
    EXPECT_TRUE(r.client.echoed == expected);
}

TEST_F(TlsSessionTest, SocketCancelAbortsPendingRead) {
    ASSERT_TRUE(ctx);
    const auto r = test::exchange(
        *ctx, {.send = "", .wait_for_close = true},
        [](TcpSocket& socket, TlsSession& session, test::ServerResult& s) -> Task<void> {
            SteadyTimer timer(socket.get_executor());
            timer.expires_after(std::chrono::milliseconds(50));
            timer.async_wait([&socket](asio::error_code) { socket.cancel(); });
            std::array<char, 16> buf{};
            const auto start = std::chrono::steady_clock::now();
            const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
            (void)n;
            s.read_error = ec;
            EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
            socket.close();
        });
    EXPECT_TRUE(r.client.handshake_ok) << r.client.error;
    EXPECT_EQ(r.server.read_error, asio::error::operation_aborted);
}

TEST_F(TlsSessionTest, SocketCancelAbortsPendingHandshake) {
    ASSERT_TRUE(ctx);
    asio::io_context io(1);
    TcpAcceptor acceptor(io.get_executor(),
                         asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    TcpSocket client(io.get_executor());
    client.connect(acceptor.local_endpoint());  // a TCP client that never says hello
    TcpSocket server(io.get_executor());
    acceptor.accept(server);
    asio::error_code result;
    bool done = false;
    auto run = [&]() -> Task<void> {
        TlsSession session(server, *ctx);
        result = co_await session.handshake();
        done = true;
    };
    asio::co_spawn(io, run(), asio::detached);
    SteadyTimer timer(io.get_executor());
    timer.expires_after(std::chrono::milliseconds(50));
    timer.async_wait([&](asio::error_code) { server.cancel(); });
    io.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(done);
    EXPECT_EQ(result, asio::error::operation_aborted);
}

TEST_F(TlsSessionTest, BufferedInputIsVisibleWhenTheCallerReadsLessThanARecord) {
    ASSERT_TRUE(ctx);
    const auto r = test::exchange(
        *ctx, {.send = "0123456789"},
        [](TcpSocket&, TlsSession& session, test::ServerResult& s) -> Task<void> {
            std::array<char, 4> small{};
            const auto [ec, n] = co_await session.read_some(asio::buffer(small));
            s.alpn = std::to_string(n) + (session.has_buffered_input() ? " buffered" : " empty");
            std::string got(small.data(), n);
            std::array<char, 64> rest{};
            const auto [ec2, m] = co_await session.read_some(asio::buffer(rest));
            got.append(rest.data(), m);
            s.read_error = ec ? ec : ec2;
            s.server_name = std::to_string(session.has_buffered_input());
            const asio::const_buffer out = cbuf(got);
            co_await session.write(std::span(&out, 1));
            co_await session.shutdown();
        });
    EXPECT_EQ(r.server.alpn, "4 buffered");
    EXPECT_EQ(r.server.server_name, "0");
    EXPECT_TRUE(r.client.echo_ok) << r.client.error;
}

TEST_F(TlsSessionTest, HandshakeFailsCleanlyOnPlainHttp) {
    ASSERT_TRUE(ctx);
    asio::io_context io(1);
    TcpAcceptor acceptor(io.get_executor(),
                         asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    TcpSocket client(io.get_executor());
    client.connect(acceptor.local_endpoint());
    asio::write(client, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    TcpSocket server(io.get_executor());
    acceptor.accept(server);
    asio::error_code result;
    auto run = [&]() -> Task<void> {
        TlsSession session(server, *ctx);
        result = co_await session.handshake();
    };
    asio::co_spawn(io, run(), asio::detached);
    io.run_for(std::chrono::seconds(5));
    EXPECT_EQ(result.category(), tls_category());
    EXPECT_FALSE(result.message().empty());
}

}  // namespace
}  // namespace usher::net
