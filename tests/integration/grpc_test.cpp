// gRPC proxied end to end: a real gRPC server and client (Debian python3-grpcio,
// tests/integration/peers/grpc_peer.py) talk through usher, which speaks HTTP/2 on both sides
// (`http2: {h2c: true}` listener, `protocol: h2` cluster). Unary calls (with a 1 MiB message),
// server, client and bidirectional streaming (interleaved: each reply before the next request),
// trailers (grpc-status, grpc-message, custom metadata). Also HTTP/2 to a TLS backend by ALPN.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "integration/harness.hpp"

extern char** environ;

namespace usher::test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-grpcio

std::string peer_script() {
    return std::string(USHER_SOURCE_DIR) + "/tests/integration/peers/grpc_peer.py";
}

bool grpc_available() {
    return sh(std::string(kPython) + " -c 'import grpc'").exit_code == 0;
}

// The gRPC server: runs until destroyed (its stdin closes).
class GrpcServer {
  public:
    GrpcServer() {
        int in[2], out[2];
        if (::pipe(in) != 0 || ::pipe(out) != 0) {
            return;
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, in[1]);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        const std::string script = peer_script();
        char* argv[] = {const_cast<char*>(kPython), const_cast<char*>(script.c_str()),
                        const_cast<char*>("server"), nullptr};
        if (posix_spawn(&pid_, kPython, &fa, nullptr, argv, environ) != 0) {
            pid_ = -1;
        }
        posix_spawn_file_actions_destroy(&fa);
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        // First line: "port N".
        std::string line;
        char c;
        while (line.size() < 64 && ::read(out[0], &c, 1) == 1 && c != '\n') {
            line += c;
        }
        ::close(out[0]);
        if (line.rfind("port ", 0) == 0) {
            port_ = std::stoi(line.substr(5));
        }
    }
    ~GrpcServer() {
        if (stdin_ >= 0) {
            ::close(stdin_);
        }
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    GrpcServer(const GrpcServer&) = delete;
    GrpcServer& operator=(const GrpcServer&) = delete;
    int port() const { return port_; }

  private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int port_ = 0;
};

std::string grpc_config(const std::string& endpoint, const std::string& extra = "") {
    return "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n    http2: {h2c: true}\n"
           "clusters:\n  grpc:\n    protocol: h2\n    endpoints: [\"" +
           endpoint + "\"]\n" + extra;
}

TEST(Grpc, UnaryStreamingAndStatusThroughUsher) {
    if (!grpc_available()) {
        GTEST_SKIP() << "python3-grpcio is not installed (scripts/install-deps installs it)";
    }
    GrpcServer server;
    ASSERT_GT(server.port(), 0);
    UsherProcess usher(grpc_config("127.0.0.1:" + std::to_string(server.port())));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = sh("timeout 60 " + std::string(kPython) + " " + peer_script() +
                " client 127.0.0.1:" + std::to_string(usher.port()));
    for (const std::string check :
         {"unary", "trailers", "unary_1mib", "server_stream", "client_stream", "bidi", "status"}) {
        EXPECT_NE(r.out.find("ok " + check + "\n"), std::string::npos) << check << "\n"
                                                                       << r.out << usher.log();
    }
    EXPECT_EQ(r.out.find("fail"), std::string::npos) << r.out;
}

TEST(Grpc, DeadBackendIsAnUnavailableStatusNotAHang) {
    if (!grpc_available()) {
        GTEST_SKIP() << "python3-grpcio is not installed";
    }
    int port = 0;
    {
        GrpcServer gone;  // a port that was just free
        port = gone.port();
    }
    ASSERT_GT(port, 0);
    UsherProcess usher(grpc_config("127.0.0.1:" + std::to_string(port)));
    ASSERT_TRUE(usher.started()) << usher.log();
    auto r = sh("timeout 30 " + std::string(kPython) + " " + peer_script() +
                " client 127.0.0.1:" + std::to_string(usher.port()));
    // usher answers 502 (HTTP), which gRPC clients report as UNAVAILABLE, quickly.
    EXPECT_NE(r.out.find("fail unary: StatusCode.UNAVAILABLE"), std::string::npos) << r.out;
}

// HTTP/2 to a TLS backend agreed by ALPN: the backend is another usher with a TLS listener.
TEST(Grpc, H2ClusterOverTlsUsesAlpnH2) {
    auto dir =
        std::filesystem::temp_directory_path() / ("usher-h2-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string cert = (dir / "b.pem").string(), key = (dir / "b.key").string();
    ASSERT_EQ(sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
                 "-subj /CN=backend.test -addext subjectAltName=DNS:backend.test -keyout " +
                 key + " -out " + cert)
                  .exit_code,
              0);
    UsherProcess backend(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\n    tls:\n      certificates:\n"
        "        - {cert: " +
        cert + ", key: " + key + "}\nroutes:\n  - respond: {status: 200, body: \"over-h2-tls\"}\n");
    ASSERT_TRUE(backend.started()) << backend.log();
    UsherProcess front(
        "workers: 1\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n"
        "    protocol: h2\n    endpoints: [\"https://127.0.0.1:" +
        std::to_string(backend.port()) + "\"]\n    tls: {ca_file: " + cert +
        ", server_name: backend.test}\n");
    ASSERT_TRUE(front.started()) << front.log();
    auto r = curl_request(front.url("/x"));
    EXPECT_EQ(r.status, 200) << front.log();
    EXPECT_EQ(r.body, "over-h2-tls");
    std::filesystem::remove_all(dir);
}

TEST(Grpc, HttpHealthChecksAreRefusedOnH2Clusters) {
    auto r =
        sh("printf 'listeners: [{address: 127.0.0.1:0}]\\nclusters:\\n  g:\\n    protocol: "
           "h2\\n    endpoints: [127.0.0.1:1]\\n    health_check: {path: /}\\n' > "
           "/tmp/usher-h2-hc.yaml && " +
           std::string(USHER_BINARY) + " check -c /tmp/usher-h2-hc.yaml");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.out.find("use type: tcp"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace usher::test
