#include "net/park_poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace usher::net {

namespace {
int make_epoll() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        throw std::system_error(errno, std::system_category(), "epoll_create1 (park poller)");
    }
    return fd;
}
}  // namespace

ParkPoller::ParkPoller(const Executor& ex, OnReady on_ready)
    : epoll_(ex, make_epoll()), on_ready_(on_ready) {
    wait();
}

ParkPoller::~ParkPoller() {
    asio::error_code ignored;
    epoll_.close(ignored);
}

std::error_code ParkPoller::watch(int fd, void* tag, bool again) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = tag;
    if (::epoll_ctl(epoll_.native_handle(), again ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
        return {errno, std::system_category()};
    }
    return {};
}

void ParkPoller::wait() {
    // A readiness wait re-arms the poller's descriptor in Asio's epoll (EPOLL_CTL_MOD), which
    // reports it again if parked descriptors became ready meanwhile.
    epoll_.async_wait(asio::posix::descriptor_base::wait_read, [this](const asio::error_code& ec) {
        if (ec) {
            return;  // closed: the worker is going away
        }
        collect();
        wait();
    });
}

void ParkPoller::collect() {
    std::array<epoll_event, 64> events;
    for (;;) {
        const int n =
            ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
        if (n <= 0) {
            return;  // nothing (more), or EINTR: the next round sees it
        }
        for (int i = 0; i < n; ++i) {
            on_ready_(events[static_cast<std::size_t>(i)].data.ptr);
        }
        if (n < static_cast<int>(events.size())) {
            return;
        }
    }
}

}  // namespace usher::net
