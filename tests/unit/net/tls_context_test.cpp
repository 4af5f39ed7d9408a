// TlsServerContext: certificate loading errors (each names its file), SNI selection, protocol
// versions, ALPN, session resumption, OCSP stapling and client certificates, through real
// handshakes with an OpenSSL client on loopback.
#include "net/tls_context.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include "unit/net/test_certs.hpp"
#include "unit/net/tls_test_client.hpp"

namespace usher::net {
namespace {

using test::CertFiles;
using test::CertSpec;
using test::ClientOptions;
using testing::HasSubstr;

config::TlsCertificate cert_of(const CertFiles& f) {
    return config::TlsCertificate{f.cert, f.key, ""};
}

std::shared_ptr<const TlsServerContext> build_ok(const config::ListenerTls& tls,
                                                 const TlsContextOptions& options = {}) {
    auto built = TlsServerContext::build(tls, options);
    EXPECT_TRUE(built.errors.empty()) << testing::PrintToString(built.errors);
    return built.context;
}

class TlsContextTest : public testing::Test {
  protected:
    test::TempDir dir;
    CertFiles a = test::make_cert(dir, "a", {.common_name = "a", .dns = {"a.example.com"}});
    CertFiles b = test::make_cert(
        dir, "b", {.common_name = "b", .dns = {"b.example.com", "*.b.example.com"}});
    CertFiles c = test::make_cert(dir, "c", {.common_name = "c.example.com"});  // CN, no SAN

    config::ListenerTls three() const {
        config::ListenerTls tls;
        tls.certificates = {cert_of(a), cert_of(b), cert_of(c)};
        return tls;
    }
};

TEST_F(TlsContextTest, ReadsNamesFromSubjectAltNameOrCommonName) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    EXPECT_THAT(ctx->names(0), testing::ElementsAre("a.example.com"));
    EXPECT_THAT(ctx->names(1), testing::ElementsAre("b.example.com", "*.b.example.com"));
    EXPECT_THAT(ctx->names(2), testing::ElementsAre("c.example.com"));
}

TEST_F(TlsContextTest, SelectsExactWildcardOrDefault) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    EXPECT_EQ(ctx->select("b.example.com"), 1u);
    EXPECT_EQ(ctx->select("B.Example.COM."), 1u);
    EXPECT_EQ(ctx->select("x.b.example.com"), 1u);    // wildcard: one label
    EXPECT_EQ(ctx->select("y.x.b.example.com"), 0u);  // not two labels
    EXPECT_EQ(ctx->select("c.example.com"), 2u);
    EXPECT_EQ(ctx->select("unknown.org"), 0u);
    EXPECT_EQ(ctx->select(""), 0u);
}

TEST_F(TlsContextTest, HandshakePresentsTheCertificateSniAsksFor) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    EXPECT_EQ(test::exchange(*ctx, {.sni = "b.example.com"}).client.server_cn, "b");
    EXPECT_EQ(test::exchange(*ctx, {.sni = "www.b.example.com"}).client.server_cn, "b");
    EXPECT_EQ(test::exchange(*ctx, {.sni = "c.example.com"}).client.server_cn, "c.example.com");
    EXPECT_EQ(test::exchange(*ctx, {.sni = "other.org"}).client.server_cn, "a");
    const auto none = test::exchange(*ctx, {});
    EXPECT_EQ(none.client.server_cn, "a");
    EXPECT_TRUE(none.client.echo_ok) << none.client.error;
    const auto named = test::exchange(*ctx, {.sni = "www.b.example.com"});
    EXPECT_EQ(named.server.server_name, "www.b.example.com");
}

TEST_F(TlsContextTest, UnreadableFilesAreNamed) {
    config::ListenerTls tls;
    tls.certificates = {{dir.file("missing.pem"), dir.file("missing.key"), ""}};
    const auto built = TlsServerContext::build(tls);
    EXPECT_FALSE(built.context);
    ASSERT_EQ(built.errors.size(), 2u);
    EXPECT_THAT(built.errors[0], HasSubstr(dir.file("missing.pem") + ": cannot read"));
    EXPECT_THAT(built.errors[1], HasSubstr(dir.file("missing.key") + ": cannot read"));
}

TEST_F(TlsContextTest, FileWithoutCertificateIsNamed) {
    test::write_file(dir.file("junk.pem"), "not a certificate\n");
    config::ListenerTls tls;
    tls.certificates = {{dir.file("junk.pem"), a.key, ""}};
    const auto built = TlsServerContext::build(tls);
    EXPECT_FALSE(built.context);
    ASSERT_EQ(built.errors.size(), 1u);
    EXPECT_THAT(built.errors[0], HasSubstr(dir.file("junk.pem") + ": no certificate found"));
}

TEST_F(TlsContextTest, KeyThatDoesNotMatchItsCertificateIsNamed) {
    config::ListenerTls tls;
    tls.certificates = {cert_of(a), {b.cert, a.key, ""}};
    const auto built = TlsServerContext::build(tls);
    EXPECT_FALSE(built.context);
    ASSERT_EQ(built.errors.size(), 1u);
    EXPECT_EQ(built.errors[0], a.key + ": key does not match the certificate in " + b.cert);
}

TEST_F(TlsContextTest, ExpiredAndNotYetValidCertificatesAreNamed) {
    const auto old = test::make_cert(
        dir, "old", {.dns = {"old.example.com"}, .valid_from = -7200, .valid_until = -3600});
    const auto future = test::make_cert(
        dir, "future", {.dns = {"f.example.com"}, .valid_from = 3600, .valid_until = 7200});
    config::ListenerTls tls;
    tls.certificates = {cert_of(old), cert_of(future)};
    const auto built = TlsServerContext::build(tls);
    EXPECT_FALSE(built.context);
    ASSERT_EQ(built.errors.size(), 2u);
    EXPECT_THAT(built.errors[0], HasSubstr(old.cert + ": certificate expired on "));
    EXPECT_THAT(built.errors[1], HasSubstr(future.cert + ": certificate is not valid before "));
}

TEST_F(TlsContextTest, BadCaFileIsNamed) {
    test::write_file(dir.file("ca.pem"), "garbage");
    config::ListenerTls tls;
    tls.certificates = {cert_of(a), cert_of(b)};
    tls.client_ca = dir.file("ca.pem");
    tls.client_auth = config::ClientAuth::require;
    const auto built = TlsServerContext::build(tls);
    EXPECT_FALSE(built.context);
    ASSERT_EQ(built.errors.size(), 1u);  // once, not once per certificate
    EXPECT_THAT(built.errors[0], HasSubstr(dir.file("ca.pem") + ": bad CA file"));
}

TEST_F(TlsContextTest, CheckTlsConfigPrefixesTheListener) {
    config::Config cfg;
    config::Listener plain;
    plain.name = "plain";
    config::Listener secure;
    secure.name = "web";
    secure.tls.emplace();
    secure.tls->certificates = {{a.cert, b.key, ""}};
    cfg.listeners = {plain, secure};
    const auto errors = check_tls_config(cfg);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_THAT(errors[0], HasSubstr("listener web: " + b.key + ": key does not match"));
    cfg.listeners[1].tls->certificates = {cert_of(a)};
    EXPECT_TRUE(check_tls_config(cfg).empty());
}

TEST_F(TlsContextTest, RefusesTls11AndAcceptsTls12And13) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    const auto old = test::exchange(
        *ctx, {.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION, .legacy = true});
    EXPECT_FALSE(old.client.handshake_ok);
    EXPECT_TRUE(old.server.handshake);  // the server refused it, not the client
    // The same legacy client may negotiate 1.2: only the version was refused.
    const auto legacy12 = test::exchange(*ctx, {.max_version = TLS1_2_VERSION, .legacy = true});
    EXPECT_TRUE(legacy12.client.handshake_ok) << legacy12.client.error;

    const auto v12 = test::exchange(*ctx, {.max_version = TLS1_2_VERSION});
    ASSERT_TRUE(v12.client.handshake_ok) << v12.client.error;
    EXPECT_EQ(v12.server.version, "TLSv1.2");
    EXPECT_THAT(v12.server.cipher, HasSubstr("ECDHE-ECDSA-AES128-GCM-SHA256"));
    const auto v13 = test::exchange(*ctx, {});
    EXPECT_EQ(v13.server.version, "TLSv1.3");
    EXPECT_TRUE(v13.client.echo_ok);
}

TEST_F(TlsContextTest, MinVersion13RefusesTls12) {
    auto tls = three();
    tls.min_version = config::TlsVersion::tls1_3;
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    EXPECT_FALSE(test::exchange(*ctx, {.max_version = TLS1_2_VERSION}).client.handshake_ok);
    EXPECT_TRUE(test::exchange(*ctx, {}).client.handshake_ok);
}

TEST_F(TlsContextTest, RefusesNonAeadAndNonEcdheCiphersOnTls12) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    for (const char* weak :
         {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"}) {
        const auto r =
            test::exchange(*ctx, {.max_version = TLS1_2_VERSION, .legacy = true, .ciphers = weak});
        EXPECT_FALSE(r.client.handshake_ok) << weak;
        EXPECT_TRUE(r.server.handshake) << weak;
    }
    const auto good = test::exchange(
        *ctx, {.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305"});
    EXPECT_TRUE(good.client.handshake_ok) << good.client.error;
    EXPECT_EQ(good.server.cipher, "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST_F(TlsContextTest, AlpnPicksTheListenersProtocolAndIgnoresUnknownOnes) {
    auto tls = three();
    tls.alpn = {"http/1.1"};  // a listener configured for HTTP/1.1 only
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    const auto both = test::exchange(*ctx, {.alpn = {"h2", "http/1.1"}});
    EXPECT_EQ(both.client.alpn, "http/1.1");
    EXPECT_EQ(both.server.alpn, "http/1.1");
    // No protocol in common: no fatal alert, no ALPN; served as HTTP/1.1.
    const auto unknown = test::exchange(*ctx, {.alpn = {"spdy/3", "h2"}});
    EXPECT_TRUE(unknown.client.handshake_ok) << unknown.client.error;
    EXPECT_TRUE(unknown.client.echo_ok);
    EXPECT_EQ(unknown.server.alpn, "");
    EXPECT_EQ(test::exchange(*ctx, {}).server.alpn, "");
}

TEST_F(TlsContextTest, AlpnFollowsServerPreference) {
    auto tls = three();
    tls.alpn = {"h2", "http/1.1"};  // the default
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    EXPECT_EQ(test::exchange(*ctx, {.alpn = {"http/1.1", "h2"}}).server.alpn, "h2");
    EXPECT_EQ(test::exchange(*ctx, {.alpn = {"http/1.1"}}).server.alpn, "http/1.1");
}

void expect_resumes(const TlsServerContext& ctx, int max_version) {
    const auto first = test::exchange(ctx, {.sni = "a.example.com", .max_version = max_version});
    ASSERT_TRUE(first.client.echo_ok) << first.client.error;
    EXPECT_FALSE(first.server.resumed);
    ASSERT_FALSE(first.client.session.empty());
    const auto second = test::exchange(
        ctx, {.sni = "a.example.com", .max_version = max_version, .session = first.client.session});
    ASSERT_TRUE(second.client.handshake_ok) << second.client.error;
    EXPECT_TRUE(second.client.reused);
    EXPECT_TRUE(second.server.resumed);
}

TEST_F(TlsContextTest, ResumesWithTicketOnTls13And12) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    expect_resumes(*ctx, 0);
    expect_resumes(*ctx, TLS1_2_VERSION);
}

TEST_F(TlsContextTest, ResumesFromTheSessionCacheWithoutTickets) {
    auto tls = three();
    tls.session_tickets = false;
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    expect_resumes(*ctx, 0);
    expect_resumes(*ctx, TLS1_2_VERSION);
}

TEST_F(TlsContextTest, TicketSurvivesOneRotationButNotTwo) {
    auto tls = three();
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    const auto first = test::exchange(*ctx, {.sni = "a.example.com"});
    ASSERT_FALSE(first.client.session.empty());
    ctx->rotate_ticket_keys();
    const auto after_one =
        test::exchange(*ctx, {.sni = "a.example.com", .session = first.client.session});
    EXPECT_TRUE(after_one.server.resumed);  // the previous key still decrypts
    ctx->rotate_ticket_keys();
    ctx->rotate_ticket_keys();
    const auto after_three =
        test::exchange(*ctx, {.sni = "a.example.com", .session = first.client.session});
    EXPECT_TRUE(after_three.client.handshake_ok);
    EXPECT_FALSE(after_three.server.resumed);  // full handshake, no error
}

TEST_F(TlsContextTest, TicketsRotateAutomatically) {
    const auto ctx = build_ok(three(), {.ticket_key_rotation = std::chrono::milliseconds(1)});
    ASSERT_TRUE(ctx);
    const auto first = test::exchange(*ctx, {.sni = "a.example.com"});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Issuing a ticket now rotates (the first key becomes the previous one)...
    const auto second = test::exchange(*ctx, {.sni = "a.example.com"});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    test::exchange(*ctx, {.sni = "a.example.com"});  // ...and again: the first key is gone
    const auto resumed =
        test::exchange(*ctx, {.sni = "a.example.com", .session = first.client.session});
    EXPECT_TRUE(resumed.client.handshake_ok);
    EXPECT_FALSE(resumed.server.resumed);
}

TEST_F(TlsContextTest, SessionOfOneCertificateDoesNotResumeOnAnother) {
    const auto ctx = build_ok(three());
    ASSERT_TRUE(ctx);
    const auto first = test::exchange(*ctx, {.sni = "a.example.com"});
    const auto other =
        test::exchange(*ctx, {.sni = "b.example.com", .session = first.client.session});
    EXPECT_TRUE(other.client.handshake_ok);
    EXPECT_FALSE(other.server.resumed);
    EXPECT_EQ(other.client.server_cn, "b");
}

TEST_F(TlsContextTest, StaplesOcspResponse) {
    auto tls = three();
    const std::string der = test::make_ocsp_response(dir.file("b.ocsp.der"));
    tls.certificates[1].ocsp = dir.file("b.ocsp.der");
    const auto ctx = build_ok(tls);
    ASSERT_TRUE(ctx);
    EXPECT_EQ(test::exchange(*ctx, {.sni = "b.example.com", .request_ocsp = true}).client.ocsp,
              der);
    EXPECT_EQ(test::exchange(*ctx, {.sni = "a.example.com", .request_ocsp = true}).client.ocsp, "");
}

TEST_F(TlsContextTest, BadOcspFileIsNamed) {
    auto tls = three();
    test::write_file(dir.file("bad.der"), "nope");
    tls.certificates[0].ocsp = dir.file("bad.der");
    const auto built = TlsServerContext::build(tls);
    ASSERT_EQ(built.errors.size(), 1u);
    EXPECT_THAT(built.errors[0], HasSubstr(dir.file("bad.der") + ": not a DER"));
}

class MutualTlsTest : public TlsContextTest {
  protected:
    CertFiles ca = test::make_cert(dir, "ca", {.common_name = "Test CA", .ca = true});
    CertFiles alice = test::make_cert(
        dir, "alice", {.common_name = "alice", .issuer = &ca, .organization = "Example"});
    CertFiles mallory = test::make_cert(dir, "mallory", {.common_name = "mallory"});

    std::shared_ptr<const TlsServerContext> context(config::ClientAuth mode) {
        auto tls = three();
        tls.client_ca = ca.cert;
        tls.client_auth = mode;
        return build_ok(tls);
    }
};

TEST_F(MutualTlsTest, AcceptsAClientCertificateFromTheCaAndReportsItsSubject) {
    const auto ctx = context(config::ClientAuth::require);
    ASSERT_TRUE(ctx);
    for (int version : {0, TLS1_2_VERSION}) {
        const auto r =
            test::exchange(*ctx, {.max_version = version, .cert = alice.cert, .key = alice.key});
        EXPECT_FALSE(r.server.handshake) << r.server.handshake.message();
        EXPECT_TRUE(r.client.echo_ok) << r.client.error;
        EXPECT_EQ(r.server.subject, "CN=alice,O=Example");
    }
}

TEST_F(MutualTlsTest, RequireRejectsMissingAndForeignCertificates) {
    const auto ctx = context(config::ClientAuth::require);
    ASSERT_TRUE(ctx);
    const auto none = test::exchange(*ctx, {});
    EXPECT_TRUE(none.server.handshake);
    EXPECT_FALSE(none.client.echo_ok);
    const auto foreign = test::exchange(*ctx, {.cert = mallory.cert, .key = mallory.key});
    EXPECT_TRUE(foreign.server.handshake);
    EXPECT_FALSE(foreign.client.echo_ok);
}

TEST_F(MutualTlsTest, OptionalAcceptsNoCertificateWithEmptySubject) {
    const auto ctx = context(config::ClientAuth::optional);
    ASSERT_TRUE(ctx);
    const auto none = test::exchange(*ctx, {});
    EXPECT_FALSE(none.server.handshake);
    EXPECT_TRUE(none.client.echo_ok);
    EXPECT_EQ(none.server.subject, "");
    const auto with = test::exchange(*ctx, {.cert = alice.cert, .key = alice.key});
    EXPECT_EQ(with.server.subject, "CN=alice,O=Example");
    const auto foreign = test::exchange(*ctx, {.cert = mallory.cert, .key = mallory.key});
    EXPECT_TRUE(foreign.server.handshake);  // presented but not verified: refused
}

TEST_F(MutualTlsTest, ResumedSessionKeepsTheSubject) {
    const auto ctx = context(config::ClientAuth::require);
    ASSERT_TRUE(ctx);
    const auto first = test::exchange(*ctx, {.cert = alice.cert, .key = alice.key});
    const auto second = test::exchange(
        *ctx, {.cert = alice.cert, .key = alice.key, .session = first.client.session});
    EXPECT_TRUE(second.server.resumed);
    EXPECT_EQ(second.server.subject, "CN=alice,O=Example");
}

}  // namespace
}  // namespace usher::net
