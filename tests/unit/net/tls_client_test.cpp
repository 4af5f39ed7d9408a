// TLS to backends: TlsClientContext::build errors, and a client TlsSession against a
// TlsServerContext-backed server over loopback (verification by CA, hostname and IP address,
// verify: false, a client certificate for mTLS, session resumption), and a health check over TLS.
#include <gtest/gtest.h>

#include <array>

#include "net/tls_client_context.hpp"
#include "net/tls_context.hpp"
#include "net/tls_session.hpp"
#include "unit/net/test_certs.hpp"
#include "upstream/health_checker.hpp"

namespace usher::net {
namespace {

using namespace std::chrono_literals;

struct Outcome {
    asio::error_code client;  // the client handshake
    asio::error_code server;  // the server handshake
    bool resumed = false;
    std::string alpn;
    std::string echoed;
    std::string backend_subject;  // the server certificate, as the client sees it
    std::string client_subject;   // the client certificate, as the server sees it
};

class TlsClientTest : public testing::Test {
  protected:
    test::TempDir dir;
    test::CertFiles ca = test::make_cert(dir, "ca", {.common_name = "Test CA", .ca = true});
    test::CertFiles other_ca =
        test::make_cert(dir, "other-ca", {.common_name = "Other CA", .ca = true});
    test::CertFiles backend = test::make_cert(
        dir, "api",
        {.common_name = "api", .dns = {"api.test"}, .ips = {"127.0.0.1"}, .issuer = &ca});
    test::CertFiles no_ip =
        test::make_cert(dir, "noip", {.common_name = "noip", .dns = {"api.test"}, .issuer = &ca});
    test::CertFiles self_signed =
        test::make_cert(dir, "self", {.common_name = "self", .dns = {"self.test"}});
    test::CertFiles client_cert =
        test::make_cert(dir, "client", {.common_name = "usher-client", .issuer = &ca});

    asio::io_context io{1};
    TcpAcceptor acceptor{io.get_executor(),
                         asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)};

    static std::shared_ptr<const TlsServerContext> server_context(
        const test::CertFiles& cert, const std::string& client_ca = "") {
        config::ListenerTls tls;
        tls.certificates = {{cert.cert, cert.key, ""}};
        if (!client_ca.empty()) {
            tls.client_ca = client_ca;
            tls.client_auth = config::ClientAuth::require;
        }
        auto built = TlsServerContext::build(tls);
        EXPECT_TRUE(built.context) << testing::PrintToString(built.errors);
        return built.context;
    }

    static std::shared_ptr<const TlsClientContext> client_context(const config::UpstreamTls& tls) {
        auto built = TlsClientContext::build(tls);
        EXPECT_TRUE(built.context) << testing::PrintToString(built.errors);
        return built.context;
    }

    // One connection on the fixture's acceptor (same address each time, so the session cache
    // applies): both handshakes, then the client sends "ping" and the server echoes it.
    Outcome connect(const TlsServerContext& server, const TlsClientContext& client,
                    const std::string& host) {
        TcpSocket c(io.get_executor());
        TcpSocket s(io.get_executor());
        c.connect(acceptor.local_endpoint());
        acceptor.accept(s);
        Outcome out;
        auto serve = [&]() -> Task<void> {
            TlsSession session(s, server);
            out.server = co_await session.handshake();
            if (out.server) {
                s.close();
                co_return;
            }
            out.client_subject = session.peer_subject();
            std::array<char, 64> buf{};
            const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
            if (!ec) {
                const asio::const_buffer b(buf.data(), n);
                co_await session.write(std::span(&b, 1));
            }
            co_await session.shutdown();
        };
        auto call = [&]() -> Task<void> {
            TlsSession session(c, client, host);
            out.client = co_await session.handshake();
            if (out.client) {
                c.close();
                co_return;
            }
            out.resumed = session.resumed();
            out.alpn = std::string(session.alpn());
            out.backend_subject = session.peer_subject();
            const asio::const_buffer b("ping", 4);
            co_await session.write(std::span(&b, 1));
            std::array<char, 64> buf{};
            const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
            out.echoed.assign(buf.data(), ec ? 0 : n);
            co_await session.shutdown();
        };
        asio::co_spawn(io, serve(), asio::detached);
        asio::co_spawn(io, call(), asio::detached);
        io.restart();
        io.run_for(5s);
        return out;
    }
};

TEST_F(TlsClientTest, VerifiesTheBackendAgainstTheCaFileAndOffersHttp11) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = ca.cert});
    ASSERT_TRUE(server && client);
    const auto r = connect(*server, *client, "api.test");
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_FALSE(r.server) << r.server.message();
    EXPECT_EQ(r.echoed, "ping");
    EXPECT_EQ(r.alpn, "http/1.1");
    EXPECT_EQ(r.backend_subject, "CN=api");
}

TEST_F(TlsClientTest, RejectsABackendSignedByAnotherCa) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = other_ca.cert});
    ASSERT_TRUE(server && client);
    const auto r = connect(*server, *client, "api.test");
    ASSERT_TRUE(r.client);
    EXPECT_EQ(r.client.category(), tls_category());
    EXPECT_EQ(r.client.message(),
              "certificate verify failed: unable to get local issuer certificate");
}

TEST_F(TlsClientTest, RejectsAHostnameMismatch) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = ca.cert});
    ASSERT_TRUE(server && client);
    const auto r = connect(*server, *client, "other.test");
    EXPECT_EQ(r.client.category(), tls_category());
    EXPECT_EQ(r.client.message(), "certificate verify failed: hostname mismatch");
}

TEST_F(TlsClientTest, ServerNameOverridesTheEndpointHost) {
    const auto client = client_context({.ca_file = ca.cert, .server_name = "api.test"});
    ASSERT_TRUE(client);
    EXPECT_EQ(client->peer_name("10.0.0.5:8443"), "api.test");
    const auto plain = client_context({.ca_file = ca.cert});
    EXPECT_EQ(plain->peer_name("api.internal:8443"), "api.internal");
    EXPECT_EQ(plain->peer_name("[::1]:8443"), "::1");
    EXPECT_EQ(plain->peer_name("10.0.0.5"), "10.0.0.5");
    const auto server = server_context(backend);
    const auto r = connect(*server, *client, client->peer_name("127.0.0.1:1"));
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_EQ(r.echoed, "ping");
}

TEST_F(TlsClientTest, VerifiesAnIpLiteralAgainstTheCertificateIpAddresses) {
    const auto client = client_context({.ca_file = ca.cert});
    ASSERT_TRUE(client);
    const auto with_ip = server_context(backend);
    const auto ok = connect(*with_ip, *client, "127.0.0.1");
    EXPECT_FALSE(ok.client) << ok.client.message();
    EXPECT_EQ(ok.echoed, "ping");
    const auto without_ip = server_context(no_ip);
    const auto bad = connect(*without_ip, *client, "127.0.0.1");
    EXPECT_EQ(bad.client.message(), "certificate verify failed: IP address mismatch");
}

TEST_F(TlsClientTest, VerifyOffAcceptsASelfSignedCertificate) {
    const auto server = server_context(self_signed);
    ASSERT_TRUE(server);
    const auto strict = client_context({});  // the system store does not know it
    const auto refused = connect(*server, *strict, "self.test");
    EXPECT_EQ(refused.client.category(), tls_category());
    const auto lax = client_context({.verify = false});
    const auto r = connect(*server, *lax, "whatever.test");
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_EQ(r.echoed, "ping");
}

TEST_F(TlsClientTest, PresentsTheClientCertificateToABackendRequiringMtls) {
    const auto server = server_context(backend, ca.cert);
    ASSERT_TRUE(server);
    const auto without = client_context({.ca_file = ca.cert});
    const auto refused = connect(*server, *without, "api.test");
    EXPECT_TRUE(refused.server);
    EXPECT_TRUE(refused.client || refused.echoed.empty());
    const auto with = client_context(
        {.ca_file = ca.cert, .client_cert = client_cert.cert, .client_key = client_cert.key});
    ASSERT_TRUE(with);
    const auto r = connect(*server, *with, "api.test");
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_FALSE(r.server) << r.server.message();
    EXPECT_EQ(r.client_subject, "CN=usher-client");
    EXPECT_EQ(r.echoed, "ping");
}

TEST_F(TlsClientTest, ResumesTheSessionOnTheNextConnection) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = ca.cert});
    ASSERT_TRUE(server && client);
    const auto first = connect(*server, *client, "api.test");
    EXPECT_FALSE(first.client) << first.client.message();
    EXPECT_FALSE(first.resumed);
    EXPECT_EQ(client->cached_sessions(), 1u);
    const auto second = connect(*server, *client, "api.test");
    EXPECT_FALSE(second.client) << second.client.message();
    EXPECT_TRUE(second.resumed);
    EXPECT_EQ(second.echoed, "ping");
}

TEST_F(TlsClientTest, FailedHandshakeForgetsTheCachedSession) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = ca.cert});
    ASSERT_TRUE(server && client);
    connect(*server, *client, "api.test");
    ASSERT_EQ(client->cached_sessions(), 1u);
    const auto other = server_context(self_signed);  // same address, now a certificate we refuse
    EXPECT_TRUE(connect(*other, *client, "api.test").client);
    EXPECT_EQ(client->cached_sessions(), 0u);
}

TEST(TlsClientContextBuild, NamesTheFileOfEveryProblem) {
    test::TempDir dir;
    const auto a = test::make_cert(dir, "a", {.common_name = "a"});
    const auto b = test::make_cert(dir, "b", {.common_name = "b"});
    test::write_file(dir.file("empty.pem"), "not a certificate\n");

    auto built = TlsClientContext::build({.ca_file = dir.file("missing.pem")});
    EXPECT_FALSE(built.context);
    EXPECT_EQ(built.errors, std::vector<std::string>{dir.file("missing.pem") +
                                                     ": cannot read: No such file or directory"});

    built = TlsClientContext::build({.ca_file = dir.file("empty.pem")});
    EXPECT_EQ(built.errors, std::vector<std::string>{dir.file("empty.pem") +
                                                     ": bad CA file: no PEM certificate in it"});

    built = TlsClientContext::build({.client_cert = a.cert, .client_key = b.key});
    EXPECT_EQ(built.errors, std::vector<std::string>{b.key +
                                                     ": key does not match the "
                                                     "certificate in " +
                                                     a.cert});

    built = TlsClientContext::build({.client_cert = dir.file("empty.pem"), .client_key = a.key});
    EXPECT_EQ(built.errors, std::vector<std::string>{
                                dir.file("empty.pem") +
                                ": no certificate found (expected PEM \"BEGIN CERTIFICATE\")"});

    built =
        TlsClientContext::build({.ca_file = a.cert, .client_cert = a.cert, .client_key = a.key});
    EXPECT_TRUE(built.context) << testing::PrintToString(built.errors);
}

TEST(TlsClientCheckConfig, ReportsClusterFilesWithTheClusterName) {
    config::Config cfg;
    config::Cluster cluster;
    cluster.name = "api";
    cluster.tls = config::UpstreamTls{.ca_file = "/nonexistent/ca.pem"};
    cfg.clusters.emplace("api", cluster);
    EXPECT_EQ(check_tls_config(cfg),
              std::vector<std::string>{
                  "cluster api: /nonexistent/ca.pem: cannot read: No such file or directory"});
}

// An HTTP health check of a TLS cluster runs over a verified client session.
TEST_F(TlsClientTest, HealthCheckRunsOverTls) {
    const auto server = server_context(backend);
    const auto client = client_context({.ca_file = ca.cert, .server_name = "api.test"});
    ASSERT_TRUE(server && client);
    std::string request;
    auto serve = [&]() -> Task<void> {
        TcpSocket s(io.get_executor());
        co_await acceptor.async_accept(s, use_tuple);
        TlsSession session(s, *server);
        if (co_await session.handshake()) {
            co_return;
        }
        std::array<char, 1024> buf{};
        const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
        request.assign(buf.data(), ec ? 0 : n);
        const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        const asio::const_buffer b(response.data(), response.size());
        co_await session.write(std::span(&b, 1));
        co_await session.shutdown();
    };
    upstream::SharedEndpoint ep;
    ep.label = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    ep.address = acceptor.local_endpoint();
    config::HealthCheck check;
    check.path = "/healthz";
    check.body_contains = "ok";
    upstream::CheckResult result;
    auto run = [&]() -> Task<void> {
        result = co_await upstream::HealthChecker::check_once(check, ep, client.get());
    };
    asio::co_spawn(io, serve(), asio::detached);
    asio::co_spawn(io, run(), asio::detached);
    io.run_for(5s);
    EXPECT_TRUE(result.ok) << result.reason;
    EXPECT_TRUE(request.starts_with("GET /healthz HTTP/1.1\r\n")) << request;

    // The same check against a CA that does not know the backend fails on verification.
    const auto wrong = client_context({.ca_file = other_ca.cert, .server_name = "api.test"});
    asio::co_spawn(io, serve(), asio::detached);
    auto run_wrong = [&]() -> Task<void> {
        result = co_await upstream::HealthChecker::check_once(check, ep, wrong.get());
    };
    asio::co_spawn(io, run_wrong(), asio::detached);
    io.restart();
    io.run_for(5s);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.reason,
              "tls: certificate verify failed: unable to get local issuer certificate");
}

}  // namespace
}  // namespace usher::net
