// A listener's TLS keys (issue 5): tls (certificates, min_version, alpn, client_ca, client_auth,
// handshake_timeout, session_tickets), redirect_to_https, redirect_https_port and hsts.
#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace usher::config {
namespace {

using namespace std::chrono_literals;
using Errors = std::vector<std::string>;

// `extra` goes under the only listener from line 3 on, indented by four spaces.
LoadResult load_listener(const std::string& extra,
                         const std::string& source = "/etc/usher/u.yaml") {
    return load_string("listeners:\n  - address: 127.0.0.1:8443\n" + extra +
                           "clusters:\n  api:\n    endpoints: [127.0.0.1:9001]\n",
                       source);
}

Errors errors_of(const LoadResult& r) {
    Errors out;
    for (const auto& d : r.errors) {
        out.push_back(d.to_string());
    }
    return out;
}

TEST(TlsConfig, ReadsEveryKeyAndResolvesRelativePaths) {
    const auto r = load_listener(
        "    tls:\n"
        "      certificates:\n"
        "        - {cert: /abs/a.pem, key: /abs/a.key}\n"
        "        - {cert: b.pem, key: keys/b.key, ocsp: b.ocsp.der}\n"
        "      min_version: \"1.3\"\n"
        "      alpn: [http/1.1]\n"
        "      client_ca: ca.pem\n"
        "      client_auth: optional\n"
        "      handshake_timeout: 3s\n"
        "      session_tickets: false\n"
        "    hsts: {max_age: 180d, include_subdomains: true}\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    const auto& l = r.config->listeners.at(0);
    ASSERT_TRUE(l.tls);
    const auto& tls = *l.tls;
    ASSERT_EQ(tls.certificates.size(), 2u);
    EXPECT_EQ(tls.certificates[0].cert, "/abs/a.pem");
    EXPECT_EQ(tls.certificates[0].ocsp, "");
    EXPECT_EQ(tls.certificates[1].cert, "/etc/usher/b.pem");
    EXPECT_EQ(tls.certificates[1].key, "/etc/usher/keys/b.key");
    EXPECT_EQ(tls.certificates[1].ocsp, "/etc/usher/b.ocsp.der");
    EXPECT_EQ(tls.min_version, TlsVersion::tls1_3);
    EXPECT_EQ(tls.alpn, std::vector<std::string>{"http/1.1"});
    EXPECT_EQ(tls.client_ca, "/etc/usher/ca.pem");
    EXPECT_EQ(tls.client_auth, ClientAuth::optional);
    EXPECT_EQ(tls.handshake_timeout, 3s);
    EXPECT_FALSE(tls.session_tickets);
    ASSERT_TRUE(l.hsts);
    EXPECT_EQ(l.hsts->header_value(), "max-age=15552000; includeSubDomains");
}

TEST(TlsConfig, DefaultsAreSecureAndPlainListenersHaveNoTls) {
    const auto r =
        load_listener("    tls:\n      certificates: [{cert: a.pem, key: a.key}]\n", "u.yaml");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    const auto& tls = *r.config->listeners.at(0).tls;
    EXPECT_EQ(tls.certificates.at(0).cert, "a.pem");  // no directory: relative to the cwd
    EXPECT_EQ(tls.min_version, TlsVersion::tls1_2);
    EXPECT_EQ(tls.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
    EXPECT_EQ(tls.client_auth, ClientAuth::none);
    EXPECT_EQ(tls.handshake_timeout, limits::kTlsHandshakeTimeout);
    EXPECT_TRUE(tls.session_tickets);
    EXPECT_FALSE(r.config->listeners.at(0).hsts);

    const auto plain = load_listener("");
    ASSERT_TRUE(plain.ok());
    EXPECT_FALSE(plain.config->listeners.at(0).tls);
    EXPECT_FALSE(plain.config->listeners.at(0).redirect_to_https);
}

TEST(TlsConfig, ClientCaAloneMeansRequire) {
    const auto r = load_listener(
        "    tls:\n      certificates: [{cert: a.pem, key: a.key}]\n      client_ca: ca.pem\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config->listeners.at(0).tls->client_auth, ClientAuth::require);
}

TEST(TlsConfig, HstsYearAndPreload) {
    const auto r = load_listener(
        "    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
        "    hsts: {max_age: 1y, include_subdomains: true, preload: true}\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    EXPECT_EQ(r.config->listeners.at(0).hsts->header_value(),
              "max-age=31536000; includeSubDomains; preload");
}

TEST(TlsConfig, RedirectListener) {
    const auto r = load_listener("    redirect_to_https: true\n    redirect_https_port: 8443\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    EXPECT_TRUE(r.config->listeners.at(0).redirect_to_https);
    EXPECT_EQ(r.config->listeners.at(0).redirect_https_port, 8443);
    const auto d = load_listener("    redirect_to_https: true\n");
    EXPECT_EQ(d.config->listeners.at(0).redirect_https_port, 443);
}

TEST(TlsConfig, StructuralErrorsHavePositions) {
    const auto r = load_listener(
        "    tls:\n"                                          // line 3
        "      certificates:\n"                               // 4
        "        - {cert: a.pem}\n"                           // 5
        "        - {cert: b.pem, key: b.key, oscp: b.der}\n"  // 6
        "      min_version: \"1.1\"\n"                        // 7
        "      alpn: [h2, spdy]\n"                            // 8
        "      client_auth: sometimes\n"                      // 9
        "      handshake_timeout: 0\n"                        // 10
        "    redirect_to_https: true\n"                       // 11
        "    hsts: {max_age: 11y}\n");                        // 12
    const Errors expected{
        "/etc/usher/u.yaml:5:11: listeners[0].tls.certificates[0]: missing required key \"key\"",
        "/etc/usher/u.yaml:6:37: listeners[0].tls.certificates[1].oscp: unknown key \"oscp\" "
        "(did you mean 'ocsp'?)",
        "/etc/usher/u.yaml:7:20: listeners[0].tls.min_version: unknown value \"1.1\" (expected "
        "one of: 1.2, 1.3)",
        "/etc/usher/u.yaml:8:18: listeners[0].tls.alpn[1]: unsupported protocol \"spdy\" "
        "(supported: h2, http/1.1)",
        "/etc/usher/u.yaml:9:20: listeners[0].tls.client_auth: unknown value \"sometimes\" "
        "(expected one of: require, optional)",
        "/etc/usher/u.yaml:10:26: listeners[0].tls.handshake_timeout: must be greater than 0",
        "/etc/usher/u.yaml:11:24: listeners[0].redirect_to_https: redirect_to_https is for plain "
        "listeners (this one has tls: it would redirect to itself)",
        "/etc/usher/u.yaml:12:21: listeners[0].hsts.max_age: at most 10 years (315360000 "
        "seconds)",
    };
    EXPECT_EQ(errors_of(r), expected);
}

TEST(TlsConfig, MisplacedOptionsAreErrors) {
    EXPECT_EQ(errors_of(load_listener("    hsts: {max_age: 1y}\n")),
              Errors{"/etc/usher/u.yaml:3:11: listeners[0].hsts: hsts needs tls on this listener "
                     "(browsers ignore it over plain HTTP)"});
    EXPECT_EQ(errors_of(load_listener("    redirect_https_port: 8443\n")),
              Errors{"/etc/usher/u.yaml:3:26: listeners[0].redirect_https_port: "
                     "redirect_https_port needs redirect_to_https: true"});
    EXPECT_EQ(errors_of(load_listener(
                  "    tls: {certificates: [{cert: a.pem, key: a.key}], client_auth: optional}\n")),
              Errors{"/etc/usher/u.yaml:3:67: listeners[0].tls.client_auth: client_auth needs "
                     "client_ca (the CA file client certificates are verified against)"});
    EXPECT_EQ(errors_of(load_listener("    tls: {certificates: []}\n")),
              Errors{"/etc/usher/u.yaml:3:25: listeners[0].tls.certificates: at least one "
                     "certificate is required"});
    EXPECT_EQ(errors_of(load_listener("    tls:\n")),
              Errors{"/etc/usher/u.yaml:3:5: listeners[0].tls: expected a mapping with at least "
                     "certificates"});
    EXPECT_EQ(errors_of(load_listener("    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
                                      "    hsts: {max_age: 1d, preload: true}\n")),
              Errors{"/etc/usher/u.yaml:4:11: listeners[0].hsts: preload needs "
                     "include_subdomains: true and max_age of at least 1y (hstspreload.org "
                     "requirements)"});
}

// ---- Clusters over TLS ----------------------------------------------------------------------

// A cluster `api` with `body` (endpoints and more, indented by four spaces) behind one listener.
LoadResult load_cluster(const std::string& body, const std::string& source = "/etc/usher/u.yaml") {
    return load_string("listeners:\n  - address: 127.0.0.1:8080\nclusters:\n  api:\n" + body,
                       source);
}

TEST(UpstreamTlsConfig, HttpsEndpointsTurnTlsOnWithVerifiedDefaults) {
    const auto r =
        load_cluster("    endpoints: [https://api.internal:8443, \"https://b.internal\"]\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    const auto& c = r.config->clusters.at("api");
    ASSERT_TRUE(c.tls);
    EXPECT_TRUE(c.tls->enabled);
    EXPECT_TRUE(c.tls->verify);
    EXPECT_EQ(c.tls->ca_file, "");
    EXPECT_EQ(c.tls->server_name, "");
    EXPECT_EQ(c.endpoints.at(0).address.to_string(), "api.internal:8443");
    EXPECT_EQ(c.endpoints.at(1).address.to_string(), "b.internal:443");
    EXPECT_FALSE(
        load_cluster("    endpoints: [http://a:80, 10.0.0.1:80]\n").config->clusters.at("api").tls);
}

TEST(UpstreamTlsConfig, ReadsEveryKeyAndResolvesRelativePaths) {
    const auto r = load_cluster(
        "    endpoints: [https://api.internal:8443, 10.0.0.5:8443]\n"
        "    tls:\n"
        "      ca_file: ca.pem\n"
        "      verify: false\n"
        "      server_name: api.internal\n"
        "      client_cert: /abs/c.pem\n"
        "      client_key: keys/c.key\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    const auto& tls = *r.config->clusters.at("api").tls;
    EXPECT_EQ(tls.ca_file, "/etc/usher/ca.pem");
    EXPECT_FALSE(tls.verify);
    EXPECT_EQ(tls.server_name, "api.internal");
    EXPECT_EQ(tls.client_cert, "/abs/c.pem");
    EXPECT_EQ(tls.client_key, "/etc/usher/keys/c.key");
}

TEST(UpstreamTlsConfig, TlsKeyTurnsTlsOnForBareEndpoints) {
    const auto r = load_cluster("    endpoints: [10.0.0.5:8443]\n    tls: {}\n");
    ASSERT_TRUE(r.ok()) << testing::PrintToString(errors_of(r));
    EXPECT_TRUE(r.config->clusters.at("api").tls);
}

TEST(UpstreamTlsConfig, MixingHttpAndHttpsNamesTheEndpoint) {
    EXPECT_EQ(errors_of(load_cluster("    endpoints: [https://a:443, http://b:80]\n", "u.yaml")),
              Errors{"u.yaml:5:32: clusters.api.endpoints[1]: endpoint \"http://b:80\" mixes "
                     "http:// with https:// (\"https://a:443\"): a cluster's endpoints are all "
                     "plain HTTP or all TLS"});
}

TEST(UpstreamTlsConfig, TlsWithAnHttpEndpointNamesTheEndpoint) {
    EXPECT_EQ(errors_of(load_cluster(
                  "    endpoints: [a:80, http://b:80]\n    tls: {verify: true}\n", "u.yaml")),
              Errors{"u.yaml:5:23: clusters.api.endpoints[1]: endpoint \"http://b:80\" is plain "
                     "HTTP but the cluster has tls (use https:// or host:port)"});
}

TEST(UpstreamTlsConfig, RejectsBadKeysAndHalfAClientCertificate) {
    EXPECT_EQ(errors_of(load_cluster("    endpoints: [a:443]\n"
                                     "    tls: {client_cert: c.pem, server_name: \"bad name\", "
                                     "sni: x}\n",
                                     "u.yaml")),
              (Errors{"u.yaml:6:24: clusters.api.tls.client_cert: client_cert needs client_key "
                      "(the certificate's private key)",
                      "u.yaml:6:44: clusters.api.tls.server_name: invalid server name \"bad "
                      "name\" (expected a host name or an IP address)",
                      "u.yaml:6:56: clusters.api.tls.sni: unknown key \"sni\" (expected one of: "
                      "ca_file, verify, server_name, client_cert, client_key)"}));
}

}  // namespace
}  // namespace usher::config
