// TLS termination with real clients: libcurl over HTTPS, the `openssl s_client` CLI (SNI, ALPN,
// resumption, protocol versions) and an in-process OpenSSL client (WebSocket over TLS), against
// the usher binary. Certificates are made with the `openssl` CLI into a temporary directory once
// per test binary run.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "integration/harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

// The certificates every test uses, made once: three server certificates for one listener
// (default.test first = the default, a.test, *.b.test), a client CA with a client certificate
// (CN=alice) and one from another CA, and a key that matches none of them.
class Certs {
  public:
    static const Certs& get() {
        static Certs certs;
        return certs;
    }
    std::string file(const std::string& name) const { return dir_ + "/" + name; }
    bool ok() const { return ok_; }
    std::string error() const { return error_; }

  private:
    Certs() {
        char tmpl[] = "/tmp/usher-tls-certs-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2";
        auto self_signed = [&](const std::string& name, const std::string& cn,
                               const std::string& san) {
            run("openssl req -x509" + ec + " -subj '/CN=" + cn + "' -addext subjectAltName=" + san +
                " -keyout " + file(name + ".key") + " -out " + file(name + ".pem"));
        };
        self_signed("default", "default.test", "DNS:default.test");
        self_signed("a", "a.test", "DNS:a.test");
        self_signed("b", "wild.b.test", "DNS:*.b.test");
        self_signed("other", "other.test", "DNS:other.test");
        for (const std::string ca : {"ca", "rogue-ca"}) {
            run("openssl req -x509" + ec + " -subj '/CN=" + ca +
                "' -addext basicConstraints=critical,CA:TRUE"
                " -addext keyUsage=critical,keyCertSign,cRLSign -keyout " +
                file(ca + ".key") + " -out " + file(ca + ".pem"));
        }
        for (const auto& [client, ca] :
             {std::pair<std::string, std::string>{"alice", "ca"}, {"mallory", "rogue-ca"}}) {
            run("openssl req -new" + ec + " -subj '/CN=" + client + "/O=Example' -keyout " +
                file(client + ".key") + " -out " + file(client + ".csr"));
            run("openssl x509 -req -days 2 -in " + file(client + ".csr") + " -CA " +
                file(ca + ".pem") + " -CAkey " + file(ca + ".key") + " -CAcreateserial -out " +
                file(client + ".pem"));
        }
        std::ofstream(file("all-servers.pem"))
            << slurp(file("default.pem")) << slurp(file("a.pem")) << slurp(file("b.pem"));
    }
    ~Certs() { std::filesystem::remove_all(dir_); }
    void run(const std::string& cmd) {
        auto r = sh(cmd);
        if (r.exit_code != 0) {
            ok_ = false;
            error_ += cmd + ":\n" + r.out + "\n";
        }
    }
    static std::string slurp(const std::string& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    std::string dir_;
    bool ok_ = true;
    std::string error_;
};

#define REQUIRE_CERTS() ASSERT_TRUE(Certs::get().ok()) << Certs::get().error()

// One TLS listener ({LISTEN}) with the three server certificates, `tls_extra` lines inside its
// `tls` mapping (6 spaces), `listener_extra` lines on the listener (4 spaces), cluster "app".
std::string tls_config(const std::string& endpoint, const std::string& tls_extra = "",
                       const std::string& listener_extra = "", const std::string& top_extra = "") {
    const auto& c = Certs::get();
    auto cert = [&](const std::string& n) {
        return "        - {cert: " + c.file(n + ".pem") + ", key: " + c.file(n + ".key") + "}\n";
    };
    return "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n    tls:\n      certificates:\n" +
           cert("default") + cert("a") + cert("b") + tls_extra + listener_extra +
           "clusters:\n  app:\n    endpoints: [\"" + endpoint + "\"]\n" + top_extra;
}

std::string https_url(int port, const std::string& host = "a.test", const std::string& path = "/") {
    return "https://" + host + ":" + std::to_string(port) + path;
}

CurlOptions tls_options(int port) {
    CurlOptions o;
    o.ca_file = Certs::get().file("all-servers.pem");
    for (const char* host : {"a.test", "default.test", "x.b.test"}) {
        o.resolve.push_back(std::string(host) + ":" + std::to_string(port) + ":127.0.0.1");
    }
    return o;
}

// `openssl s_client` against 127.0.0.1:port with `args`; sends one `Connection: close` request
// after the handshake and reads until usher closes (-ign_eof), all under a 10 s limit.
Shell s_client(int port, const std::string& args, const std::string& host = "a.test") {
    static int counter = 0;
    std::string input =
        "/tmp/usher-tls-sclient-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::ofstream(input) << "GET /sclient HTTP/1.1\r\nHost: " << host
                         << "\r\nConnection: close\r\n\r\n";
    auto r = sh("timeout 10 openssl s_client -ign_eof -connect 127.0.0.1:" + std::to_string(port) +
                " " + args + " < " + input);
    std::filesystem::remove(input);
    return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Reads and discards until the peer closes (true) or `timeout` passes (false).
bool drained_to_close(int fd, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            return false;
        }
        if (::recv(fd, buf, sizeof buf, 0) <= 0) {
            return true;
        }
    }
}

std::string digest(const std::string& s) {
    return std::to_string(s.size()) + ":" + std::to_string(std::hash<std::string>{}(s));
}

// A blocking in-process TLS client over a connected socket (for raw byte exchanges over TLS).
class TlsClient {
  public:
    TlsClient(int port, const std::string& sni) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(ctx_, Certs::get().file("all-servers.pem").c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        fd_ = connect_to(port);
        if (fd_ < 0) {
            return;
        }
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(sni.c_str()));
        SSL_set1_host(ssl_, sni.c_str());
        connected_ = SSL_connect(ssl_) == 1;
    }
    ~TlsClient() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
        SSL_CTX_free(ctx_);
    }
    bool connected() const { return connected_; }
    int fd() const { return fd_; }
    bool write(std::string_view bytes) {
        while (!bytes.empty()) {
            int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
            if (n <= 0) {
                return false;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Reads until done(buffer), a close/error, or `timeout`; true only when done.
    bool read_until(std::string& out, const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds timeout = 5s) {
        auto deadline = Clock::now() + timeout;
        char buf[16384];
        while (!done(out)) {
            if (SSL_pending(ssl_) == 0) {
                auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                pollfd p{fd_, POLLIN, 0};
                if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                    return false;
                }
            }
            int n = SSL_read(ssl_, buf, sizeof buf);
            if (n <= 0) {
                int err = SSL_get_error(ssl_, n);
                if (err == SSL_ERROR_WANT_READ) {
                    continue;  // a post-handshake message (session ticket) with no data
                }
                eof_ = err == SSL_ERROR_ZERO_RETURN;
                return false;
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }
    bool saw_close_notify() const { return eof_; }
    void close_notify() { SSL_shutdown(ssl_); }

  private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    bool connected_ = false;
    bool eof_ = false;
};

// ---- curl over HTTPS --------------------------------------------------------------------------

TEST(Tls, CurlOverHttpsReachesTheBackendWithProtoHttps) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    EXPECT_TRUE(contains(usher.log(), "listening on https://")) << usher.log();
    auto r =
        curl_request(https_url(usher.port(), "a.test", "/hello?x=1"), tls_options(usher.port()));
    ASSERT_EQ(r.curl_code, 0) << usher.log();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.rfind("GET /hello?x=1 HTTP/1.1\n", 0), 0u) << r.body;
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("x-forwarded-proto").value_or(""), "https");

    // Plain HTTP to the TLS port is not served.
    auto plain = curl_request("http://127.0.0.1:" + std::to_string(usher.port()) + "/");
    EXPECT_NE(plain.status, 200);
}

TEST(Tls, CurlRefusesWhenTheCertificateIsNotTrusted) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto o = tls_options(usher.port());
    o.ca_file = Certs::get().file("other.pem");
    auto r = curl_request(https_url(usher.port()), o);
    EXPECT_NE(r.curl_code, 0) << "verified against an unrelated CA";
    EXPECT_TRUE(backend->requests().empty());
}

// ---- s_client: SNI, ALPN, resumption, versions ------------------------------------------------

TEST(Tls, SniChoosesTheCertificateExactWildcardAndDefault) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"-servername a.test", "CN = a.test"},
        {"-servername x.b.test", "CN = wild.b.test"},
        {"-servername other.example", "CN = default.test"},
        {"-servername b.test", "CN = default.test"},      // *.b.test does not cover b.test
        {"-servername y.x.b.test", "CN = default.test"},  // one label only
        {"-noservername", "CN = default.test"},
    };
    for (const auto& [args, subject] : cases) {
        auto r = s_client(usher.port(), args);
        EXPECT_TRUE(contains(r.out, "subject=" + subject)) << args << "\n" << r.out;
        EXPECT_TRUE(contains(r.out, "HTTP/1.1 200")) << args << "\n" << r.out;
    }
}

TEST(Tls, AlpnAgreesOnH2OrHttp11AndIgnoresUnknownProtocols) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto h1 = s_client(usher.port(), "-servername a.test -alpn http/1.1");
    EXPECT_TRUE(contains(h1.out, "ALPN protocol: http/1.1")) << h1.out;
    EXPECT_TRUE(contains(h1.out, "HTTP/1.1 200")) << h1.out;

    auto both = s_client(usher.port(), "-servername a.test -alpn http/1.1,h2");
    EXPECT_TRUE(contains(both.out, "ALPN protocol: h2")) << "server preference\n" << both.out;

    auto unknown = s_client(usher.port(), "-servername a.test -alpn spdy/3");
    EXPECT_TRUE(contains(unknown.out, "No ALPN negotiated")) << unknown.out;
    EXPECT_TRUE(contains(unknown.out, "HTTP/1.1 200")) << "served over HTTP/1.1\n" << unknown.out;
}

TEST(Tls, ListenerWithAlpnHttp11OnlyRefusesH2) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "      alpn: [http/1.1]\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto h2 = s_client(usher.port(), "-servername a.test -alpn h2");
    EXPECT_TRUE(contains(h2.out, "No ALPN negotiated")) << h2.out;
    EXPECT_TRUE(contains(h2.out, "HTTP/1.1 200")) << "still served over HTTP/1.1\n" << h2.out;
}

TEST(Tls, SessionResumptionWithSessOutAndSessIn) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    for (const std::string tickets : {"true", "false"}) {
        for (const std::string version : {"-tls1_3", "-tls1_2"}) {
            UsherProcess usher(
                tls_config(backend->address(), "      session_tickets: " + tickets + "\n"));
            ASSERT_TRUE(usher.started()) << usher.log();
            std::string sess = "/tmp/usher-tls-sess-" + std::to_string(::getpid());
            auto first =
                s_client(usher.port(), "-servername a.test " + version + " -sess_out " + sess);
            EXPECT_TRUE(contains(first.out, "New, TLSv1.")) << first.out;
            EXPECT_TRUE(contains(first.out, "HTTP/1.1 200")) << first.out;
            auto second =
                s_client(usher.port(), "-servername a.test " + version + " -sess_in " + sess);
            EXPECT_TRUE(contains(second.out, "Reused, TLSv1."))
                << "tickets " << tickets << " " << version << "\n"
                << second.out;
            EXPECT_TRUE(contains(second.out, "HTTP/1.1 200")) << second.out;
            std::filesystem::remove(sess);
        }
    }
}

TEST(Tls, OldProtocolVersionsAreRefused) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    // SECLEVEL=0 so that the client itself is willing to offer TLS 1.0/1.1: the refusal must come
    // from usher (a protocol_version alert), not from the client's own policy.
    for (const std::string old : {"-tls1", "-tls1_1"}) {
        auto r =
            s_client(usher.port(), "-servername a.test " + old + " -cipher DEFAULT@SECLEVEL=0");
        EXPECT_NE(r.exit_code, 0) << old << "\n" << r.out;
        EXPECT_TRUE(contains(r.out, "alert protocol version")) << old << "\n" << r.out;
        EXPECT_FALSE(contains(r.out, "HTTP/1.1 200")) << old << "\n" << r.out;
    }
    for (const std::string ok : {"-tls1_2", "-tls1_3"}) {
        auto r = s_client(usher.port(), "-servername a.test " + ok);
        EXPECT_TRUE(contains(r.out, "HTTP/1.1 200")) << ok << "\n" << r.out;
        std::string expect = ok == "-tls1_2" ? "Protocol  : TLSv1.2" : "Protocol  : TLSv1.3";
        EXPECT_TRUE(contains(r.out, expect)) << ok << "\n" << r.out;
    }
}

TEST(Tls, MinVersion13RefusesTls12) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "      min_version: \"1.3\"\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto old = s_client(usher.port(), "-servername a.test -tls1_2");
    EXPECT_NE(old.exit_code, 0) << old.out;
    EXPECT_TRUE(contains(old.out, "alert protocol version")) << old.out;
    EXPECT_FALSE(contains(old.out, "HTTP/1.1 200")) << old.out;
    auto ok = s_client(usher.port(), "-servername a.test -tls1_3");
    EXPECT_TRUE(contains(ok.out, "HTTP/1.1 200")) << ok.out;
}

TEST(Tls, Tls12OffersOnlyEcdheAead) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (const std::string weak : {"AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA",
                                   "ECDHE-ECDSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256"}) {
        auto r = s_client(usher.port(), "-servername a.test -tls1_2 -cipher " + weak);
        EXPECT_FALSE(contains(r.out, "HTTP/1.1 200")) << weak << "\n" << r.out;
    }
    auto r =
        s_client(usher.port(), "-servername a.test -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305");
    EXPECT_TRUE(contains(r.out, "HTTP/1.1 200")) << r.out;
}

// ---- mTLS -------------------------------------------------------------------------------------

TEST(Tls, MutualTlsAcceptsTheCasClientsAndRefusesOthers) {
    REQUIRE_CERTS();
    const auto& c = Certs::get();
    auto backend = make_echo_backend();
    UsherProcess usher(
        tls_config(backend->address(), "      client_ca: " + c.file("ca.pem") + "\n"));
    ASSERT_TRUE(usher.started()) << usher.log();

    auto with = tls_options(usher.port());
    with.client_cert = c.file("alice.pem");
    with.client_key = c.file("alice.key");
    auto ok = curl_request(https_url(usher.port()), with);
    EXPECT_EQ(ok.curl_code, 0) << usher.log();
    EXPECT_EQ(ok.status, 200);

    auto none = curl_request(https_url(usher.port()), tls_options(usher.port()));
    EXPECT_NE(none.curl_code, 0) << "no client certificate";
    EXPECT_EQ(none.status, 0);

    auto rogue = tls_options(usher.port());
    rogue.client_cert = c.file("mallory.pem");
    rogue.client_key = c.file("mallory.key");
    auto bad = curl_request(https_url(usher.port()), rogue);
    EXPECT_NE(bad.curl_code, 0) << "client certificate from another CA";
    EXPECT_EQ(bad.status, 0);

    EXPECT_EQ(backend->requests().size(), 1u) << "only alice's request reached the backend";
}

// The verified subject reaches routing (a `headers` match), the backend and the JSON access log;
// a client cannot forge it.
TEST(Tls, MutualTlsSubjectIsAvailableToRoutingTheBackendAndTheLog) {
    REQUIRE_CERTS();
    const auto& c = Certs::get();
    auto backend = make_echo_backend();
    const std::string log_file = "/tmp/usher-mtls-log-" + std::to_string(::getpid());
    UsherProcess usher(
        tls_config(backend->address(),
                   "      client_ca: " + c.file("ca.pem") + "\n      client_auth: optional\n", "",
                   "routes:\n  - match: {headers: [{name: x-client-subject, "
                   "equals: \"O=Example,CN=alice\"}]}\n    cluster: app\n"
                   "  - respond: {status: 403, body: \"alice only\"}\n"
                   "access_log: {path: " +
                       log_file + ", format: json}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto alice = tls_options(usher.port());
    alice.client_cert = c.file("alice.pem");
    alice.client_key = c.file("alice.key");
    alice.headers = {"X-Client-Subject: CN=mallory"};  // ignored: usher sets the verified one
    auto ok = curl_request(https_url(usher.port()), alice);
    EXPECT_EQ(ok.status, 200) << usher.log();
    auto anonymous = tls_options(usher.port());
    anonymous.headers = {"X-Client-Subject: O=Example,CN=alice"};  // forged, no certificate
    auto refused = curl_request(https_url(usher.port()), anonymous);
    EXPECT_EQ(refused.status, 403);
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("x-client-subject").value_or(""), "O=Example,CN=alice");
    EXPECT_EQ(requests[0].count("x-client-subject"), 1);
    usher.stop();
    auto log = sh("cat " + log_file).out;
    std::remove(log_file.c_str());
    EXPECT_TRUE(contains(log, "\"client_subject\":\"O=Example,CN=alice\"")) << log;
}

TEST(Tls, MutualTlsOptionalServesClientsWithoutACertificate) {
    REQUIRE_CERTS();
    const auto& c = Certs::get();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "      client_ca: " + c.file("ca.pem") +
                                                          "\n      client_auth: optional\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto none = curl_request(https_url(usher.port()), tls_options(usher.port()));
    EXPECT_EQ(none.curl_code, 0);
    EXPECT_EQ(none.status, 200);
    auto rogue = tls_options(usher.port());
    rogue.client_cert = c.file("mallory.pem");
    rogue.client_key = c.file("mallory.key");
    auto bad = curl_request(https_url(usher.port()), rogue);
    EXPECT_NE(bad.curl_code, 0) << "an unverifiable certificate is refused even when optional";
}

// ---- handshake timeout and garbage -------------------------------------------------------------

TEST(Tls, SilentClientIsClosedAfterTheHandshakeTimeout) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "      handshake_timeout: 300ms\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    int fd = connect_to(usher.port());
    ASSERT_GE(fd, 0);
    auto start = Clock::now();
    EXPECT_TRUE(drained_to_close(fd, 3s)) << "usher still holds a silent connection after 3 s";
    auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 250ms) << "closed before the handshake timeout";
    ::close(fd);

    // A client that starts a handshake and stalls half-way is closed too.
    int half = connect_to(usher.port());
    ASSERT_GE(half, 0);
    // The first bytes of a TLS 1.2 ClientHello record header, then nothing.
    send_all(half, std::string("\x16\x03\x01\x00\xc8\x01", 6));
    EXPECT_TRUE(drained_to_close(half, 3s));
    ::close(half);

    auto r = curl_request(https_url(usher.port()), tls_options(usher.port()));
    EXPECT_EQ(r.status, 200) << "usher keeps serving";
}

TEST(Tls, PlainHttpOnTheTlsPortIsClosedAndOthersAreServed) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    // Hold a healthy TLS connection open across the garbage.
    CurlClient keep(Certs::get().file("all-servers.pem"),
                    {"a.test:" + std::to_string(usher.port()) + ":127.0.0.1"});
    EXPECT_EQ(keep.get(https_url(usher.port())).status, 200);

    for (const std::string& garbage :
         {std::string("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), std::string(5000, '\x16'),
          std::string("\x16\x03\x01\x00\x05hello", 10)}) {
        int fd = connect_to(usher.port());
        ASSERT_GE(fd, 0);
        send_all(fd, garbage);
        EXPECT_TRUE(drained_to_close(fd, 3s)) << "garbage of " << garbage.size() << " bytes";
        ::close(fd);
    }
    EXPECT_EQ(keep.get(https_url(usher.port())).status, 200);
    EXPECT_EQ(keep.connects(), 1);
    auto r = curl_request(https_url(usher.port()), tls_options(usher.port()));
    EXPECT_EQ(r.status, 200);
}

// ---- redirect and HSTS -------------------------------------------------------------------------

std::optional<Message> head_of(const CurlResult& r) {
    return parse_response(r.headers, nullptr, true);
}

TEST(Tls, RedirectListenerAnswers308ToHttps) {
    auto backend = make_echo_backend();
    std::string cfg =
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n"
        "    redirect_to_https: true\nclusters:\n  app:\n    endpoints: [\"" +
        backend->address() + "\"]\n";
    UsherProcess usher(cfg);
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlOptions get;
    get.headers = {"Host: example.com"};
    auto r = curl_request(usher.url("/path/x?query=1&b=2"), get);
    EXPECT_EQ(r.status, 308);
    auto m = head_of(r);
    ASSERT_TRUE(m) << r.headers;
    EXPECT_EQ(m->header("location").value_or(""), "https://example.com/path/x?query=1&b=2");

    CurlOptions with_port;
    with_port.headers = {"Host: example.com:8080"};
    r = curl_request(usher.url("/p"), with_port);
    EXPECT_EQ(r.status, 308);
    EXPECT_EQ(head_of(r)->header("location").value_or(""), "https://example.com/p")
        << "the plain port is dropped; 443 is not written";

    CurlOptions post;
    post.method = "POST";
    post.body = "payload";
    post.headers = {"Host: example.com"};
    r = curl_request(usher.url("/submit"), post);
    EXPECT_EQ(r.status, 308);
    EXPECT_EQ(head_of(r)->header("location").value_or(""), "https://example.com/submit");
    EXPECT_TRUE(backend->requests().empty()) << "nothing is proxied";
}

TEST(Tls, RedirectListenerNamesTheHttpsPort) {
    auto backend = make_echo_backend();
    std::string cfg =
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n"
        "    redirect_to_https: true\n    redirect_https_port: 8443\n"
        "clusters:\n  app:\n    endpoints: [\"" +
        backend->address() + "\"]\n";
    UsherProcess usher(cfg);
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlOptions o;
    o.headers = {"Host: example.com:8080"};
    auto r = curl_request(usher.url("/a?b=c"), o);
    EXPECT_EQ(r.status, 308);
    EXPECT_EQ(head_of(r)->header("location").value_or(""), "https://example.com:8443/a?b=c");
    o.method = "PUT";
    o.body = "x";
    r = curl_request(usher.url("/put"), o);
    EXPECT_EQ(r.status, 308);
    EXPECT_EQ(head_of(r)->header("location").value_or(""), "https://example.com:8443/put");
}

TEST(Tls, HstsHeaderIsAddedAndReplacesTheBackends) {
    REQUIRE_CERTS();
    FakeBackend backend(FakeBackend::responder(
        200, "body", {{"Strict-Transport-Security", "max-age=5"}, {"X-Other", "kept"}}));
    UsherProcess usher(
        tls_config(backend.address(), "", "    hsts: {max_age: 1y, include_subdomains: true}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = curl_request(https_url(usher.port()), tls_options(usher.port()));
    ASSERT_EQ(r.status, 200) << usher.log();
    auto m = head_of(r);
    ASSERT_TRUE(m) << r.headers;
    EXPECT_EQ(m->count("strict-transport-security"), 1) << r.headers;
    EXPECT_EQ(m->header("strict-transport-security").value_or(""),
              "max-age=31536000; includeSubDomains");
    EXPECT_EQ(m->header("x-other").value_or(""), "kept");
    EXPECT_EQ(r.body, "body");
}

// RFC 6797: Strict-Transport-Security on every HTTPS response, usher's own answers included (a
// `respond` route, the 404 when no route matches).
TEST(Tls, HstsHeaderIsOnUshersOwnResponsesToo) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "",
                                  "    hsts: {max_age: 1y, include_subdomains: true}\n",
                                  "routes:\n  - match: {path: /direct}\n"
                                  "    respond: {status: 200, body: \"ok\"}\n"
                                  "  - match: {path: /app}\n    cluster: app\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    for (const std::string path : {"/direct", "/nothing-routes-here"}) {
        auto r = curl_request(https_url(usher.port(), "a.test", path), tls_options(usher.port()));
        ASSERT_NE(r.status, 0) << path;
        auto m = head_of(r);
        ASSERT_TRUE(m) << r.headers;
        EXPECT_EQ(m->header("strict-transport-security").value_or(""),
                  "max-age=31536000; includeSubDomains")
            << path << "\n"
            << r.headers;
    }
}

// ---- WebSocket, keep-alive, large bodies -------------------------------------------------------

TEST(Tls, WebSocketUpgradeTunnelsBytesBothWays) {
    REQUIRE_CERTS();
    FakeBackend backend([](int fd, int) {
        std::string buf;
        auto req = read_request(fd, buf);
        if (!req || req->header("upgrade").value_or("") != "websocket") {
            send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        send_all(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n");
        // The backend speaks first, then echoes every byte until the client closes.
        send_all(fd, "\x81\x05hello");
        char chunk[4096];
        for (;;) {
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return;
            }
            send_all(fd, std::string_view(chunk, static_cast<std::size_t>(n)));
        }
    });
    UsherProcess usher(tls_config(backend.address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    TlsClient client(usher.port(), "a.test");
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.write(
        "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    std::string in;
    const std::string greeting = "\x81\x05hello";
    ASSERT_TRUE(client.read_until(in, [&](const std::string& s) {
        auto end = s.find("\r\n\r\n");
        return end != std::string::npos && s.size() >= end + 4 + greeting.size();
    })) << in;
    ASSERT_EQ(in.rfind("HTTP/1.1 101", 0), 0u) << in;
    EXPECT_EQ(in.substr(in.find("\r\n\r\n") + 4), greeting) << "server-first bytes arrive";
    for (const std::string& msg :
         std::vector<std::string>{"\x81\x05world", std::string(300000, 'z')}) {
        ASSERT_TRUE(client.write(msg));
        std::string echo;
        EXPECT_TRUE(
            client.read_until(echo, [&](const std::string& s) { return s.size() >= msg.size(); }));
        EXPECT_EQ(digest(echo), digest(msg));
    }
    // close_notify from the client: the tunnel is torn down and usher closes too.
    client.close_notify();
    std::string rest;
    EXPECT_FALSE(client.read_until(
        rest, [](const std::string&) { return false; }, 5s));
    EXPECT_TRUE(rest.empty());
}

TEST(Tls, KeepAliveServesSeveralRequestsOnOneConnection) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    CurlClient client(Certs::get().file("all-servers.pem"),
                      {"a.test:" + std::to_string(usher.port()) + ":127.0.0.1"});
    for (int i = 0; i < 10; ++i) {
        auto r = client.get(https_url(usher.port(), "a.test", "/r" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << i;
        EXPECT_EQ(r.body.rfind("GET /r" + std::to_string(i) + " ", 0), 0u) << r.body;
    }
    EXPECT_EQ(client.connects(), 1) << "one TLS connection for all ten requests";
}

TEST(Tls, LargeDownloadAndUploadArriveIntact) {
    REQUIRE_CERTS();
    std::string big(8 << 20, '\0');
    std::uint64_t x = 88172645463325252ULL;
    for (auto& ch : big) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ch = static_cast<char>(x);
    }
    FakeBackend backend([&big](int fd, int) {
        std::string buffer;
        while (auto req = read_request(fd, buffer, 30s)) {
            std::string body = req->start_line.rfind("POST", 0) == 0 ? digest(req->body) : big;
            std::string resp =
                "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
            if (!send_all(fd, resp) || !send_all(fd, body)) {
                return;
            }
        }
    });
    UsherProcess usher(tls_config(backend.address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto o = tls_options(usher.port());
    o.timeout_ms = 60000;
    auto down = curl_request(https_url(usher.port(), "a.test", "/download"), o);
    ASSERT_EQ(down.curl_code, 0);
    EXPECT_EQ(down.status, 200);
    EXPECT_EQ(digest(down.body), digest(big));

    o.method = "POST";
    o.body = big;
    auto up = curl_request(https_url(usher.port(), "a.test", "/upload"), o);
    ASSERT_EQ(up.curl_code, 0);
    EXPECT_EQ(up.status, 200);
    EXPECT_EQ(up.body, digest(big));
}

// ---- usher check -------------------------------------------------------------------------------

TEST(Tls, CheckRejectsAKeyThatDoesNotMatchItsCertificate) {
    REQUIRE_CERTS();
    const auto& c = Certs::get();
    char tmpl[] = "/tmp/usher-tls-check-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string path = dir + "/usher.yaml";
    std::ofstream(path) << "listeners:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n"
                           "        - {cert: "
                        << c.file("a.pem") << ", key: " << c.file("other.key")
                        << "}\nclusters:\n  app:\n    endpoints: [\"127.0.0.1:1\"]\n";
    auto r = run_usher({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.out + r.err, c.file("other.key"))) << r.out << r.err;

    std::ofstream(path) << "listeners:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n"
                           "        - {cert: "
                        << c.file("a.pem") << ", key: " << c.file("a.key")
                        << "}\nclusters:\n  app:\n    endpoints: [\"127.0.0.1:1\"]\n";
    auto good = run_usher({"check", "-c", path});
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    std::filesystem::remove_all(dir);
}

}  // namespace

// ---- TLS to backends -------------------------------------------------------------------------
// The backend is a second usher with a TLS listener (certificate a.test) answering directly.

namespace {

std::unique_ptr<UsherProcess> tls_backend(const std::string& body) {
    const auto& c = Certs::get();
    return std::make_unique<UsherProcess>(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n    tls:\n      certificates:\n"
        "        - {cert: " +
        c.file("a.pem") + ", key: " + c.file("a.key") +
        "}\nroutes:\n  - match: {path: {prefix: /}}\n    respond: {status: 200, body: \"" + body +
        "\"}\n");
}

// A plain front usher whose cluster reaches `backend_port` over TLS with `tls` settings.
std::string front_config(int backend_port, const std::string& tls) {
    return "workers: 1\nlisteners: [{address: \"{LISTEN}\"}]\nclusters:\n  app:\n    endpoints: "
           "[\"https://127.0.0.1:" +
           std::to_string(backend_port) + "\"]\n    tls: " + tls + "\n";
}

}  // namespace

TEST(UpstreamTls, VerifiedBackendAnswersThroughUsher) {
    REQUIRE_CERTS();
    auto backend = tls_backend("over-tls");
    ASSERT_TRUE(backend->started()) << backend->log();
    UsherProcess front(front_config(
        backend->port(), "{ca_file: " + Certs::get().file("a.pem") + ", server_name: a.test}"));
    ASSERT_TRUE(front.started()) << front.log();
    CurlClient client;
    for (int i = 0; i < 5; ++i) {
        auto r = client.get(front.url("/x"));
        ASSERT_EQ(r.status, 200) << front.log();
        EXPECT_EQ(r.body, "over-tls");
    }
}

TEST(UpstreamTls, WrongCaOrNameIsA502AndNothingIsSent) {
    REQUIRE_CERTS();
    auto backend = tls_backend("secret");
    ASSERT_TRUE(backend->started()) << backend->log();
    // A CA that did not sign the backend's certificate.
    UsherProcess wrong_ca(front_config(
        backend->port(), "{ca_file: " + Certs::get().file("other.pem") + ", server_name: a.test}"));
    ASSERT_TRUE(wrong_ca.started()) << wrong_ca.log();
    auto r = curl_request(wrong_ca.url("/"));
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
    EXPECT_NE(wrong_ca.log().find("TLS handshake failed"), std::string::npos) << wrong_ca.log();
    // The right CA but a name the certificate does not carry.
    UsherProcess wrong_name(front_config(
        backend->port(), "{ca_file: " + Certs::get().file("a.pem") + ", server_name: b.test}"));
    ASSERT_TRUE(wrong_name.started()) << wrong_name.log();
    EXPECT_EQ(curl_request(wrong_name.url("/")).status, 502);
}

TEST(UpstreamTls, VerifyFalseAcceptsAnUntrustedBackend) {
    REQUIRE_CERTS();
    auto backend = tls_backend("trusting");
    ASSERT_TRUE(backend->started()) << backend->log();
    UsherProcess front(front_config(backend->port(), "{verify: false}"));
    ASSERT_TRUE(front.started()) << front.log();
    auto r = curl_request(front.url("/"));
    EXPECT_EQ(r.status, 200) << front.log();
    EXPECT_EQ(r.body, "trusting");
}

TEST(UpstreamTls, PlainBackendBehindATlsClusterFailsCleanly) {
    REQUIRE_CERTS();
    FakeBackend plain(FakeBackend::responder(200, "plain"));
    UsherProcess front(front_config(plain.port(), "{verify: false}") +
                       "timeouts: {connect: 500ms}\n");
    ASSERT_TRUE(front.started()) << front.log();
    // A backend that does not speak TLS: the handshake fails (502) or times out (503).
    auto r = curl_request(front.url("/"));
    EXPECT_TRUE(r.status == 502 || r.status == 503) << r.status;
    EXPECT_EQ(r.body.find("plain"), std::string::npos);
    // usher stays up and answers the next request the same way.
    auto again = curl_request(front.url("/"));
    EXPECT_TRUE(again.status == 502 || again.status == 503) << again.status;
}

}  // namespace usher::test

// ---- HTTP/2 over TLS (ALPN h2) --------------------------------------------------------------

namespace usher::test {
namespace {

TEST(TlsH2, CurlNegotiatesH2AndGetsHstsAndTheForwardedScheme) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address(), "", "    hsts: {max_age: 1y}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto o = tls_options(usher.port());
    o.http2 = true;
    auto r = curl_request(https_url(usher.port(), "a.test", "/h2?q=1"), o);
    ASSERT_EQ(r.curl_code, 0) << usher.log();
    EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_2_0);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(contains(r.headers, "strict-transport-security: max-age=31536000")) << r.headers;
    auto requests = backend->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].header("x-forwarded-proto").value_or(""), "https");
    EXPECT_EQ(requests[0].header("host").value_or(""), "a.test:" + std::to_string(usher.port()));
}

TEST(TlsH2, NghttpAndH2loadOverTls) {
    REQUIRE_CERTS();
    auto backend = make_echo_backend();
    UsherProcess usher(tls_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    const std::string url = "https://127.0.0.1:" + std::to_string(usher.port()) + "/";
    auto nghttp = sh("timeout 10 nghttp -nv " + url);
    EXPECT_TRUE(contains(nghttp.out, "recv SETTINGS frame")) << nghttp.out;
    EXPECT_TRUE(contains(nghttp.out, ":status: 200")) << nghttp.out;
    auto load = sh("timeout 60 h2load -n 400 -c 4 -m 10 " + url);
    EXPECT_TRUE(contains(load.out, "Application protocol: h2")) << load.out;
    EXPECT_TRUE(contains(load.out, "400 succeeded, 0 failed")) << load.out;
}

}  // namespace
}  // namespace usher::test
