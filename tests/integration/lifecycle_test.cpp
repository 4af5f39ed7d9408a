// Process lifecycle: graceful drain on SIGTERM (in-flight requests finish, idle connections
// close, exit 0), log reopening on SIGUSR1, and the command line (exit codes and messages).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string config(const std::string& backend, const std::string& extra = "") {
    return cluster_config(backend, extra, 2);
}

std::string temp_dir() {
    char tmpl[] = "/tmp/usher-lc-XXXXXX";
    return ::mkdtemp(tmpl);
}

TEST(Lifecycle, SigtermFinishesTheRequestInFlightThenExitsZero) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            std::this_thread::sleep_for(800ms);
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
        }
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    auto url = usher.url("/");
    auto pending = std::async(std::launch::async, [url] { return curl_request(url); });
    std::this_thread::sleep_for(300ms);  // the request is now waiting on the backend
    auto start = Clock::now();
    int code = usher.stop(10s);
    auto r = pending.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "slow");
    EXPECT_EQ(code, 0);
    EXPECT_LT(Clock::now() - start, 5s);
}

TEST(Lifecycle, SigtermClosesIdleKeepAliveConnectionsAndStopsAccepting) {
    auto backend = make_echo_backend();
    UsherProcess usher(config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto first = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ASSERT_TRUE(parse_response(first));
    auto start = Clock::now();
    EXPECT_EQ(usher.stop(10s), 0);
    EXPECT_LT(Clock::now() - start, 3s) << "idle connections must not hold the drain";
    EXPECT_TRUE(closed_by_peer(fd, 1s));
    ::close(fd);
    EXPECT_LT(connect_to(usher.port()), 0) << "no longer accepting";
}

int open_descriptors(int pid) {
    int n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (::readdir(d) != nullptr) {
            ++n;
        }
        ::closedir(d);
    }
    return n;
}

// A connection accepted before SIGTERM whose first request comes after the drain started: nothing
// would retry that request (a new connection), so it is served, with Connection: close, rather
// than closed unread as an idle keep-alive connection is.
TEST(Lifecycle, SigtermStillServesTheFirstRequestOfAnAcceptedConnection) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address(), "", 1));
    ASSERT_TRUE(usher.started());
    const int before = open_descriptors(usher.pid());
    int fd = connect_to(usher.port());
    ASSERT_GE(fd, 0);
    auto deadline = Clock::now() + 5s;  // accepted: usher holds one more descriptor
    while (open_descriptors(usher.pid()) <= before && Clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_GT(open_descriptors(usher.pid()), before) << "the connection was not accepted";
    usher.signal(SIGTERM);
    deadline = Clock::now() + 5s;  // the worker drains once its listener is closed
    for (int probe; (probe = connect_to(usher.port())) >= 0 && Clock::now() < deadline;) {
        ::close(probe);
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_LT(connect_to(usher.port()), 0) << "usher did not stop accepting";
    send_all(fd, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto bytes = read_to_close(fd);
    ::close(fd);
    const auto m = parse_response(bytes);
    ASSERT_TRUE(m) << "the request was dropped: '" << bytes << "'";
    EXPECT_EQ(m->status(), 200);
    EXPECT_EQ(m->header("connection").value_or(""), "close");
    EXPECT_EQ(usher.stop(10s), 0);
}

TEST(Lifecycle, Sigusr1ReopensTheAccessLog) {
    auto backend = make_echo_backend();
    auto dir = temp_dir();
    auto path = dir + "/access.log";
    UsherProcess usher(config(backend->address(), "access_log: {path: \"" + path + "\"}\n"));
    ASSERT_TRUE(usher.started()) << usher.log();
    curl_request(usher.url("/before"));
    std::this_thread::sleep_for(1500ms);  // the once-a-second flush
    ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
    usher.signal(SIGUSR1);
    // Wait until usher has reopened (the new file appears) before the next request.
    for (int i = 0; i < 200 && ::access(path.c_str(), F_OK) != 0; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    curl_request(usher.url("/after"));
    EXPECT_EQ(usher.stop(), 0);
    std::stringstream old_log, new_log;
    old_log << std::ifstream(path + ".1").rdbuf();
    new_log << std::ifstream(path).rdbuf();
    EXPECT_NE(old_log.str().find("GET /before"), std::string::npos) << old_log.str();
    EXPECT_NE(new_log.str().find("GET /after"), std::string::npos) << new_log.str();
    EXPECT_EQ(new_log.str().find("GET /before"), std::string::npos);
    std::system(("rm -rf '" + dir + "'").c_str());
}

// ---- command line -----------------------------------------------------------------------------

TEST(Cli, VersionPrintsNameAndVersion) {
    auto r = run_usher({"--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, std::string("usher ") + USHER_VERSION + "\n");
}

TEST(Cli, HelpShowsUsageAndExamples) {
    auto r = run_usher({"--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("Usage:"), std::string::npos);
    EXPECT_NE(r.out.find("Examples:"), std::string::npos);
    EXPECT_NE(r.out.find("usher check -c"), std::string::npos);
    EXPECT_NE(r.out.find("--listen"), std::string::npos);
}

TEST(Cli, UnknownFlagIsOneLineUsageErrorExit2) {
    auto r = run_usher({"--frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("--frobnicate"), std::string::npos) << r.err;
}

TEST(Cli, CheckValidConfigPrintsSummary) {
    auto r = run_usher({"check", "-c", std::string(USHER_SOURCE_DIR) + "/examples/demo.yaml"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("ok: 1 listener, 1 route, 1 cluster (2 endpoints)"), std::string::npos)
        << r.out;
}

TEST(Cli, CheckReportsEveryErrorWithPositionAndExits1) {
    auto dir = temp_dir();
    auto path = dir + "/bad.yaml";
    std::ofstream(path) << "listeners:\n"
                           "  - address: 127.0.0.1:8080\n"
                           "timeouts:\n"
                           "  conect: 5s\n"
                           "  upstream_header: 10 seconds\n"
                           "clusters:\n"
                           "  api:\n"
                           "    endpoints:\n"
                           "      - 127.0.0.1:9001\n"
                           "      - 127.0.0.1:99999\n";
    auto r = run_usher({"check", "-c", path});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(path + ":4:3: timeouts.conect: unknown key"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("did you mean 'connect'?"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(path + ":5:20: timeouts.upstream_header:"), std::string::npos) << r.err;
    EXPECT_NE(
        r.err.find(path + ":10:9: clusters.api.endpoints[1]: port 99999 is out of range (1-65535)"),
        std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("3 errors"), std::string::npos) << r.err;
    std::system(("rm -rf '" + dir + "'").c_str());
}

TEST(Cli, MissingConfigFileIsOneClearLine) {
    auto r = run_usher({"-c", "/nonexistent/usher.yaml"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("/nonexistent/usher.yaml"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
}

TEST(Cli, BadOverridesAreUsageErrors) {
    EXPECT_EQ(
        run_usher({"--listen", ":8080", "--to", "127.0.0.1:9", "--workers", "zero"}).exit_code, 2);
    EXPECT_EQ(
        run_usher({"--listen", ":8080", "--to", "127.0.0.1:9", "--log-level", "loud"}).exit_code,
        2);
    EXPECT_EQ(run_usher({"--listen", ":8080"}).exit_code, 2);
    EXPECT_EQ(
        run_usher({"--listen", ":8080", "--to", "127.0.0.1:9", "--timeout", "connect"}).exit_code,
        2);
    auto bad_port = run_usher({"--listen", "127.0.0.1:8080", "--to", "http://127.0.0.1:99999"});
    EXPECT_EQ(bad_port.exit_code, 1);
    EXPECT_NE(bad_port.err.find("port 99999 is out of range"), std::string::npos) << bad_port.err;
    auto bad_timeout =
        run_usher({"--listen", "127.0.0.1:8080", "--to", "127.0.0.1:9", "--timeout", "conect=1s"});
    EXPECT_EQ(bad_timeout.exit_code, 1);
    EXPECT_NE(bad_timeout.err.find("did you mean 'connect'?"), std::string::npos)
        << bad_timeout.err;
}

TEST(Cli, QuickModeProxiesToTheGivenBackends) {
    auto backend = make_echo_backend();
    // Quick mode needs a fixed port: take a free one from the kernel first.
    int port;
    {
        FakeBackend probe(nullptr);
        port = probe.port();
    }
    std::string listen = "127.0.0.1:" + std::to_string(port);
    auto dir = temp_dir();
    int pid = ::fork();
    if (pid == 0) {
        std::freopen((dir + "/log").c_str(), "w", stderr);
        ::execl(USHER_BINARY, USHER_BINARY, "--listen", listen.c_str(), "--to",
                ("http://" + backend->address()).c_str(), "--workers", "1", "--timeout",
                "upstream_header=2s", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    CurlResult r;
    for (int i = 0; i < 200; ++i) {
        r = curl_request("http://" + listen + "/quick");
        if (r.status != 0) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("GET /quick HTTP/1.1"), std::string::npos);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace usher::test
