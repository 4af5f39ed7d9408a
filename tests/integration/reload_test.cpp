// Reload under load (issue 7): clients keep sending requests over a keep-alive connection and
// over fresh connections for ~20 s while the config is reloaded 20 times through the admin API,
// alternating two valid files whose routes differ (one of them also adds a listener the other
// removes), with an invalid file in between that must be rejected. Asserted: zero failed
// requests, zero resets or refused connections, every request started after a reload answered
// by the route of the new file, and a WebSocket-like tunnel opened before the reloads still
// echoing after them.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>

#include "harness.hpp"

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

int admin_port(const UsherProcess& usher) {
    const auto deadline = Clock::now() + 10s;
    constexpr std::string_view kLine = "admin: serving on http://";
    while (Clock::now() < deadline) {
        const auto log = usher.log();
        const auto pos = log.find(kLine);
        if (pos != std::string::npos) {
            const int port = std::atoi(log.c_str() + log.find(':', pos + kLine.size()) + 1);
            if (port > 0) {
                return port;
            }
        }
        std::this_thread::sleep_for(10ms);
    }
    return 0;
}

// Echoes every byte after a 101 (a WebSocket-like upgraded tunnel).
std::unique_ptr<FakeBackend> upgrade_echo_backend() {
    return std::make_unique<FakeBackend>([](int fd, int) {
        std::string buf;
        auto req = read_request(fd, buf);
        if (!req || req->header("upgrade").value_or("") != "websocket") {
            send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        send_all(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n\r\n");
        char chunk[4096];
        for (;;) {
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return;
            }
            send_all(fd, std::string_view(chunk, static_cast<std::size_t>(n)));
        }
    });
}

struct Sample {
    Clock::time_point start, end;
    long status = 0;
    int curl_code = 0;
    std::string body;
};

// The two valid files: the same clusters, the catch-all route pointing at a different one; the
// second also has an extra listener (opened on reload, closed by the next).
std::string config_file(int listen_port, int admin, const FakeBackend& a, const FakeBackend& b,
                        const FakeBackend& ws, bool second) {
    std::string y = "workers: 2\nlisteners:\n  - name: web\n    address: 127.0.0.1:" +
                    std::to_string(listen_port) + "\n";
    if (second) {
        y += "  - name: extra\n    address: 127.0.0.1:0\n";
    }
    y += "clusters:\n  a:\n    endpoints: [\"" + a.address() + "\"]\n  b:\n    endpoints: [\"" +
         b.address() + "\"]\n  ws:\n    endpoints: [\"" + ws.address() + "\"]\n";
    y += "routes:\n  - name: ws\n    match: {path: {prefix: /ws}}\n    cluster: ws\n";
    y += std::string("  - name: main\n    cluster: ") + (second ? "b" : "a") + "\n";
    y += "admin:\n  listen: 127.0.0.1:" + std::to_string(admin) + "\n";
    return y;
}

TEST(Reload, TwentyReloadsUnderLoadDropNothingAndSwitchRoutesAtOnce) {
    auto a = std::make_unique<FakeBackend>(FakeBackend::responder(200, "A"));
    auto b = std::make_unique<FakeBackend>(FakeBackend::responder(200, "B"));
    auto ws = upgrade_echo_backend();
    // Start on the first file with port 0; the later files name the bound ports.
    std::string first = config_file(0, 0, *a, *b, *ws, false);
    first.replace(first.find("127.0.0.1:0"), 11, "{LISTEN}");
    UsherProcess usher(first);
    ASSERT_TRUE(usher.started()) << usher.log();
    const int admin = admin_port(usher);
    ASSERT_GT(admin, 0) << usher.log();
    const std::string url = usher.url("/load");
    ASSERT_EQ(curl_request(url).body, "A");

    // The tunnel, opened before any reload.
    int tunnel = connect_to(usher.port());
    ASSERT_GE(tunnel, 0);
    send_all(tunnel,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    auto head = read_until(
        tunnel, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
    ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
    auto echo = [&](const std::string& msg) {
        if (!send_all(tunnel, msg)) {
            return std::string("<send failed>");
        }
        return read_until(tunnel, [&](const std::string& s) { return s.size() >= msg.size(); });
    };
    ASSERT_EQ(echo("\x81\x05hello"), "\x81\x05hello");

    // Load: one keep-alive client, one client opening a new connection per request.
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<Sample> keep_alive, fresh;
    auto run = [&](bool reuse, std::vector<Sample>& out) {
        CurlClient client;
        while (!stop.load()) {
            Sample s;
            s.start = Clock::now();
            const CurlResult r = reuse ? client.get(url) : curl_request(url);
            s.end = Clock::now();
            s.status = r.status;
            s.curl_code = r.curl_code;
            s.body = r.body;
            std::lock_guard lock(mu);
            out.push_back(std::move(s));
        }
    };
    std::thread t1(run, true, std::ref(keep_alive));
    std::thread t2(run, false, std::ref(fresh));

    // 20 reloads, ~1 s apart; an invalid file is tried before every fifth one.
    struct Applied {
        Clock::time_point begin, done;  // the reload request sent / answered
        std::string expect;
    };
    std::vector<Applied> applied;
    int rejected = 0;
    std::vector<std::string> tunnel_errors;
    const auto test_start = Clock::now();
    for (int i = 0; i < 20; ++i) {
        std::this_thread::sleep_for(1000ms);
        if (i % 5 == 2) {
            std::ofstream(usher.config_path())
                << "listeners:\n  - address: 127.0.0.1:" << usher.port()
                << "\nclusters: {a: {endpoints: "
                << "[\"" << a->address() << "\"]}}\nroutes: [{cluster: nope}]\n";
            CurlOptions post;
            post.method = "POST";
            auto r =
                curl_request("http://127.0.0.1:" + std::to_string(admin) + "/config/reload", post);
            EXPECT_EQ(r.status, 422) << r.body;
            EXPECT_NE(r.body.find("unknown cluster"), std::string::npos) << r.body;
            rejected += r.status == 422;
        }
        const bool second = i % 2 == 0;
        std::ofstream(usher.config_path()) << config_file(usher.port(), admin, *a, *b, *ws, second);
        CurlOptions post;
        post.method = "POST";
        const auto begin = Clock::now();
        auto r = curl_request("http://127.0.0.1:" + std::to_string(admin) + "/config/reload", post);
        ASSERT_EQ(r.status, 200) << r.body << usher.log();
        applied.push_back({begin, Clock::now(), second ? "B" : "A"});
        // Right after the reload: a new connection follows the new route.
        EXPECT_EQ(curl_request(url).body, second ? "B" : "A") << "after reload " << i;
        if (auto e = echo("\x81\x03" + std::to_string(100 + i));
            e != "\x81\x03" + std::to_string(100 + i)) {
            tunnel_errors.push_back("reload " + std::to_string(i) + ": " + e);
        }
    }
    std::this_thread::sleep_for(500ms);
    stop = true;
    t1.join();
    t2.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - test_start).count();

    EXPECT_EQ(rejected, 4);
    EXPECT_TRUE(tunnel_errors.empty()) << tunnel_errors.front();
    EXPECT_EQ(echo("\x81\x05"
                   "after"),
              "\x81\x05"
              "after")
        << "the tunnel survived 20 reloads";
    ::close(tunnel);

    // Every request succeeded, and every request started after reload k (and finished before
    // reload k+1) was answered by reload k's route.
    auto check = [&](const std::vector<Sample>& samples, const char* who) {
        int failed = 0, wrong = 0, checked = 0;
        for (const auto& s : samples) {
            if (s.curl_code != 0 || s.status != 200) {
                ++failed;
                ADD_FAILURE() << who << ": curl code " << s.curl_code << ", status " << s.status;
                continue;
            }
            for (std::size_t k = 0; k < applied.size(); ++k) {
                const bool after = s.start > applied[k].done;
                const bool before_next = k + 1 == applied.size() || s.end < applied[k + 1].begin;
                // (A request that overlaps the next reload may be served by either config.)
                if (after && before_next) {
                    ++checked;
                    if (s.body != applied[k].expect) {
                        ++wrong;
                        ADD_FAILURE() << who << ": after reload " << k << " got " << s.body;
                    }
                }
            }
        }
        std::cout << "[reload] " << who << ": " << samples.size() << " requests, " << failed
                  << " failed, " << checked << " checked against the route of the reload "
                  << "before them, " << wrong << " on the old route\n";
        return failed + wrong;
    };
    EXPECT_EQ(check(keep_alive, "keep-alive"), 0);
    EXPECT_EQ(check(fresh, "fresh connections"), 0);
    EXPECT_GT(keep_alive.size(), 200u);
    EXPECT_GT(fresh.size(), 200u);
    std::cout << "[reload] 20 reloads + " << rejected << " rejected in " << seconds << " s\n";

    // The admin API agrees.
    auto status = curl_request("http://127.0.0.1:" + std::to_string(admin) + "/status").body;
    EXPECT_NE(status.find("\"reloads\": 20"), std::string::npos) << status;
    EXPECT_EQ(usher.log().find("drain timeout"), std::string::npos);
    EXPECT_EQ(usher.stop(10s), 0);
}

TEST(Reload, ListenersAreKeptAddedAndRemovedByAddress) {
    auto a = std::make_unique<FakeBackend>(FakeBackend::responder(200, "A"));
    auto b = std::make_unique<FakeBackend>(FakeBackend::responder(200, "B"));
    auto ws = upgrade_echo_backend();
    std::string first = config_file(0, 0, *a, *b, *ws, false);
    first.replace(first.find("127.0.0.1:0"), 11, "{LISTEN}");
    UsherProcess usher(first);
    ASSERT_TRUE(usher.started());
    const int admin = admin_port(usher);
    // An idle keep-alive connection opened before the reload.
    int idle = connect_to(usher.port());
    send_all(idle, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    auto got = read_until(idle, [](const std::string& s) { return parse_response(s).has_value(); });
    ASSERT_EQ(parse_response(got)->body, "A");

    std::ofstream(usher.config_path()) << config_file(usher.port(), admin, *a, *b, *ws, true);
    CurlOptions post;
    post.method = "POST";
    const std::string reload = "http://127.0.0.1:" + std::to_string(admin) + "/config/reload";
    ASSERT_EQ(curl_request(reload, post).status, 200);
    // The extra listener is open: its port is in /status.
    auto status = curl_request("http://127.0.0.1:" + std::to_string(admin) + "/status").body;
    const auto at = status.find("{\"name\": \"extra\", \"address\": \"127.0.0.1:");
    ASSERT_NE(at, std::string::npos) << status;
    const int extra = std::atoi(status.c_str() + status.find(':', at + 35) + 1);
    ASSERT_GT(extra, 0);
    EXPECT_EQ(curl_request("http://127.0.0.1:" + std::to_string(extra) + "/").body, "B");
    // The connection from before the reload is still open and now follows the new route.
    send_all(idle, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    got = read_until(idle, [](const std::string& s) { return parse_response(s).has_value(); });
    ASSERT_TRUE(parse_response(got)) << got;
    EXPECT_EQ(parse_response(got)->body, "B");
    ::close(idle);
    // A keep-alive connection on the extra listener, idle when that listener is removed.
    int on_extra = connect_to(extra);
    send_all(on_extra, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    got = read_until(on_extra, [](const std::string& s) { return parse_response(s).has_value(); });
    ASSERT_TRUE(parse_response(got)) << got;

    // Back to the first file: the extra listener stops accepting, and its idle connection is
    // closed now (drained), not at its idle timeout.
    std::ofstream(usher.config_path()) << config_file(usher.port(), admin, *a, *b, *ws, false);
    ASSERT_EQ(curl_request(reload, post).status, 200);
    EXPECT_TRUE(closed_by_peer(on_extra, 2s)) << "idle connection of a removed listener";
    ::close(on_extra);
    const auto r = curl_request("http://127.0.0.1:" + std::to_string(extra) + "/");
    EXPECT_NE(r.curl_code, 0) << "connection to the removed listener should be refused";
    EXPECT_EQ(curl_request(usher.url("/")).body, "A");

    // A listener that cannot bind rejects the whole reload (the running config stays).
    FakeBackend squatter(FakeBackend::responder(200, "squat"));
    std::string clash = config_file(usher.port(), admin, *a, *b, *ws, true);
    clash.replace(clash.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(squatter.port()));
    std::ofstream(usher.config_path()) << clash;
    auto rejected = curl_request(reload, post);
    EXPECT_EQ(rejected.status, 422) << rejected.body;
    EXPECT_NE(rejected.body.find("cannot listen on"), std::string::npos) << rejected.body;
    EXPECT_EQ(curl_request(usher.url("/")).body, "A");
}

TEST(Reload, PicksUpRotatedCertificateFiles) {
    char tmpl[] = "/tmp/usher-rotate-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    auto make = [&](const std::string& name) {
        return sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                  "-subj /CN=rot.test -addext subjectAltName=DNS:rot.test -keyout " +
                  dir + "/" + name + ".key -out " + dir + "/" + name + ".pem 2>&1")
                   .exit_code == 0;
    };
    ASSERT_TRUE(make("old") && make("new"));
    ASSERT_EQ(sh("cp " + dir + "/old.pem " + dir + "/live.pem && cp " + dir + "/old.key " + dir +
                 "/live.key")
                  .exit_code,
              0);
    auto a = std::make_unique<FakeBackend>(FakeBackend::responder(200, "A"));
    auto config = [&](const std::string& listen, int admin) {
        return "workers: 1\nlisteners:\n  - address: \"" + listen +
               "\"\n    tls:\n      certificates:\n        - {cert: " + dir +
               "/live.pem, key: " + dir + "/live.key}\nclusters:\n  app:\n    endpoints: [\"" +
               a->address() + "\"]\nadmin:\n  listen: 127.0.0.1:" + std::to_string(admin) + "\n";
    };
    UsherProcess usher(config("{LISTEN}", 0));
    ASSERT_TRUE(usher.started()) << usher.log();
    const int admin = admin_port(usher);
    auto get = [&](const std::string& ca) {
        CurlOptions o;
        o.ca_file = dir + "/" + ca + ".pem";
        o.resolve.push_back("rot.test:" + std::to_string(usher.port()) + ":127.0.0.1");
        return curl_request("https://rot.test:" + std::to_string(usher.port()) + "/", o);
    };
    EXPECT_EQ(get("old").body, "A");
    EXPECT_NE(get("new").curl_code, 0) << "not the new certificate yet";

    ASSERT_EQ(sh("cp " + dir + "/new.pem " + dir + "/live.pem && cp " + dir + "/new.key " + dir +
                 "/live.key")
                  .exit_code,
              0);
    std::ofstream(usher.config_path())
        << config("127.0.0.1:" + std::to_string(usher.port()), admin);
    CurlOptions post;
    post.method = "POST";
    auto r = curl_request("http://127.0.0.1:" + std::to_string(admin) + "/config/reload", post);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(get("new").body, "A") << "the rotated certificate is served";
    EXPECT_NE(get("old").curl_code, 0);
    sh("rm -rf " + dir);
}

}  // namespace
}  // namespace usher::test
