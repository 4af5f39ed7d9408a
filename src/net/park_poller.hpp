#pragma once
// ParkPoller: a worker's second epoll set, for the descriptors of parked (idle keep-alive)
// connections that were released from Asio.
//
// Asio keeps about 170 bytes of reactor state per registered descriptor, and a pending wait
// another ~100. A parked connection is instead handed to this poller: the kernel holds its
// epoll entry, and user space holds nothing but the caller's tag. Asio watches only the poller's
// own descriptor; when it turns readable, one epoll_wait collects the ready descriptors and each
// tag is passed to the callback. Each watch is one-shot: a descriptor reports once, then stays
// silent in the set until it is watched again (EPOLL_CTL_MOD) or closed (which removes it).
// Linux only (like SO_REUSEPORT). epoll is used here and nowhere else.
#include <asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <system_error>

#include "core/asio.hpp"

namespace usher::net {

class ParkPoller {
  public:
    using OnReady = void (*)(void* tag);

    // Throws std::system_error when the kernel refuses a new epoll instance.
    ParkPoller(const Executor& ex, OnReady on_ready);
    ~ParkPoller();
    ParkPoller(const ParkPoller&) = delete;
    ParkPoller& operator=(const ParkPoller&) = delete;

    // Reports `fd` once to on_ready(tag) when it has input, a hang-up or an error. `again`: the
    // descriptor was watched before (and reported) and is still open, so it is still in the set.
    std::error_code watch(int fd, void* tag, bool again);

  private:
    void wait();
    void collect();

    asio::posix::basic_stream_descriptor<Executor> epoll_;
    OnReady on_ready_;
};

}  // namespace usher::net
