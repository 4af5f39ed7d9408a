#include "net/park_poller.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

namespace usher::net {
namespace {

using namespace std::chrono_literals;

std::vector<void*> g_ready;  // tags reported, in order (the poller's callback is a plain function)
void record(void* tag) {
    g_ready.push_back(tag);
}

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
}

struct Pair {
    int fds[2] = {-1, -1};
    Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
    ~Pair() {
        for (int fd : fds) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
};

TEST(ParkPoller, ReportsAWatchedDescriptorOnceWhenItHasInput) {
    g_ready.clear();
    asio::io_context io;
    ParkPoller poller(io.get_executor(), &record);
    Pair a, b;
    int tag_a = 0, tag_b = 0;
    ASSERT_FALSE(poller.watch(a.fds[0], &tag_a, false));
    ASSERT_FALSE(poller.watch(b.fds[0], &tag_b, false));
    run_for(io, 20ms);
    EXPECT_TRUE(g_ready.empty()) << "nothing was readable";
    ASSERT_EQ(::write(b.fds[1], "x", 1), 1);
    run_for(io, 50ms);
    ASSERT_EQ(g_ready, std::vector<void*>{&tag_b});
    // One-shot: more input reports nothing until it is watched again (MOD, it is in the set).
    ASSERT_EQ(::write(b.fds[1], "y", 1), 1);
    run_for(io, 20ms);
    EXPECT_EQ(g_ready.size(), 1u);
    ASSERT_FALSE(poller.watch(b.fds[0], &tag_b, true));
    run_for(io, 50ms);
    EXPECT_EQ(g_ready, (std::vector<void*>{&tag_b, &tag_b})) << "already readable when re-armed";
    // A hang-up is reported like input.
    ::close(a.fds[1]);
    a.fds[1] = -1;
    run_for(io, 50ms);
    EXPECT_EQ(g_ready, (std::vector<void*>{&tag_b, &tag_b, &tag_a}));
}

TEST(ParkPoller, AClosedDescriptorLeavesTheSetAndManyReadyOnesAreAllReported) {
    g_ready.clear();
    asio::io_context io;
    ParkPoller poller(io.get_executor(), &record);
    {
        Pair gone;
        int tag = 0;
        ASSERT_FALSE(poller.watch(gone.fds[0], &tag, false));
    }  // both ends closed: nothing may be reported for it
    // More ready descriptors than one epoll_wait batch (64).
    std::vector<Pair> pairs(150);
    std::vector<int> tags(pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        ASSERT_FALSE(poller.watch(pairs[i].fds[0], &tags[i], false));
        ASSERT_EQ(::write(pairs[i].fds[1], "x", 1), 1);
    }
    run_for(io, 100ms);
    ASSERT_EQ(g_ready.size(), pairs.size());
    for (void* t : g_ready) {
        EXPECT_TRUE(t >= static_cast<void*>(tags.data()) &&
                    t < static_cast<void*>(tags.data() + tags.size()));
    }
}

TEST(ParkPoller, WatchingABadDescriptorIsAnError) {
    asio::io_context io;
    ParkPoller poller(io.get_executor(), &record);
    int tag = 0;
    EXPECT_TRUE(poller.watch(-1, &tag, false));
    Pair p;
    EXPECT_TRUE(poller.watch(p.fds[0], &tag, true)) << "MOD of a descriptor never added";
}

}  // namespace
}  // namespace usher::net
