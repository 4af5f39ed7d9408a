// Graceful binary upgrade (SIGUSR2): the running usher starts its binary again with the listening
// sockets; once the new process is ready the old one drains and exits 0. Clients sending requests
// over keep-alive and fresh connections throughout see no failure and no refused connection. A
// new process that cannot start (the config became invalid) leaves the old one serving.
#include <gtest/gtest.h>
#include <signal.h>
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

// The number after the n-th (0-based) occurrence of `marker` in the log, waiting up to 15 s.
int number_after(const UsherProcess& usher, std::string_view marker, int nth = 0) {
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
        const auto log = usher.log();
        std::size_t pos = 0;
        for (int i = 0; i <= nth; ++i) {
            pos = log.find(marker, i == 0 ? 0 : pos + 1);
            if (pos == std::string::npos) {
                break;
            }
        }
        if (pos != std::string::npos) {
            return std::atoi(log.c_str() + pos + marker.size());
        }
        std::this_thread::sleep_for(10ms);
    }
    return 0;
}

// True once `pid` is gone (or a zombie: the new process is not our child).
bool gone(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    if (text.empty()) {
        return true;
    }
    const auto paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

TEST(Upgrade, Sigusr2HandsTheSocketsToANewProcessWithoutDroppingRequests) {
    auto backend = std::make_unique<FakeBackend>(FakeBackend::responder(200, "ok"));
    UsherProcess usher(cluster_config(backend->address(),
                                      "drain_timeout: 5s\nadmin:\n  listen: 127.0.0.1:0\n", 2));
    ASSERT_TRUE(usher.started()) << usher.log();
    const std::string url = usher.url("/");

    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::string> failures;
    std::atomic<int> done{0};
    auto run = [&](bool reuse) {
        CurlClient client;
        while (!stop.load()) {
            const CurlResult r = reuse ? client.get(url) : curl_request(url);
            if (r.curl_code != 0 || r.status != 200 || r.body != "ok") {
                std::lock_guard lock(mu);
                failures.push_back("curl " + std::to_string(r.curl_code) + " status " +
                                   std::to_string(r.status));
            }
            ++done;
        }
    };
    std::thread keep_alive(run, true);
    std::thread fresh(run, false);
    std::thread fresh2(run, false);
    std::this_thread::sleep_for(300ms);

    usher.signal(SIGUSR2);
    const int new_pid = number_after(usher, "upgrade: new process ");
    ASSERT_GT(new_pid, 0) << usher.log();
    EXPECT_NE(new_pid, usher.pid());
    // The old process drains and exits by itself.
    const auto deadline = Clock::now() + 10s;
    while (usher.log().find("stopped") == std::string::npos && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    const int before = done.load();
    std::this_thread::sleep_for(1s);  // traffic now goes to the new process only
    stop = true;
    keep_alive.join();
    fresh.join();
    fresh2.join();
    const int after_old_exit = done.load() - before;
    EXPECT_EQ(usher.stop(10s), 0) << "the old process exits 0 after its drain";

    // The new process answers on its own admin listener (the second one logged).
    const int admin = number_after(usher, "admin: serving on http://127.0.0.1:", 1);
    ASSERT_GT(admin, 0) << usher.log();
    const auto status = curl_request("http://127.0.0.1:" + std::to_string(admin) + "/status");
    EXPECT_NE(status.body.find("\"pid\": " + std::to_string(new_pid)), std::string::npos)
        << status.body;
    EXPECT_EQ(curl_request(url).body, "ok");
    std::cout << "[upgrade] " << done.load() << " requests, " << failures.size() << " failed, "
              << after_old_exit << " served by the new process after the old one exited\n";
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
    EXPECT_GT(after_old_exit, 50);

    ::kill(new_pid, SIGTERM);
    const auto end = Clock::now() + 10s;
    while (!gone(new_pid) && Clock::now() < end) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(gone(new_pid));
}

TEST(Upgrade, ANewProcessThatCannotStartLeavesTheOldOneServing) {
    auto backend = std::make_unique<FakeBackend>(FakeBackend::responder(200, "ok"));
    UsherProcess usher(cluster_config(backend->address(), "", 1));
    ASSERT_TRUE(usher.started());
    std::ofstream(usher.config_path()) << "listeners: [\n";  // the new process will reject it
    usher.signal(SIGUSR2);
    const auto deadline = Clock::now() + 10s;
    while (usher.log().find("keeps serving") == std::string::npos && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_NE(usher.log().find("upgrade: new process"), std::string::npos) << usher.log();
    EXPECT_NE(usher.log().find("keeps serving"), std::string::npos) << usher.log();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(curl_request(usher.url("/")).body, "ok");
    }
    EXPECT_EQ(usher.stop(10s), 0);
}

}  // namespace
}  // namespace usher::test
