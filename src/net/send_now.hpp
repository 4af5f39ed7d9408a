#pragma once
// send_now: a gather write of what the socket takes at once, without waiting (sendmsg with
// MSG_DONTWAIT). Most writes of a proxy complete this way; doing it directly spares the Asio
// operation (its initiation, the completion posted to the scheduler and the coroutine resumed
// through it), and the caller awaits an async_write only for what is left.
#include <array>
#include <cstddef>

#include "core/asio.hpp"

namespace usher::net {

// Sends from `bufs[0..count)`; returns the bytes the kernel took. A full socket buffer
// (EAGAIN) is 0 bytes and no error; any other failure sets `ec`.
std::size_t send_now(int fd, const asio::const_buffer* bufs, std::size_t count,
                     asio::error_code& ec) noexcept;

// True when all of `bufs` was sent (or `ec` is set). Otherwise `bufs` is advanced past what was
// sent, ready for an async_write of the rest.
template <std::size_t N>
bool send_now(TcpSocket& socket, std::array<asio::const_buffer, N>& bufs, asio::error_code& ec) {
    std::size_t sent = send_now(socket.native_handle(), bufs.data(), N, ec);
    if (ec) {
        return true;
    }
    bool all = true;
    for (auto& b : bufs) {
        const std::size_t n = std::min(sent, b.size());
        b += n;
        sent -= n;
        all = all && b.size() == 0;
    }
    return all;
}

}  // namespace usher::net
