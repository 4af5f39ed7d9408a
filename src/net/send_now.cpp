#include "net/send_now.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace usher::net {

std::size_t send_now(int fd, const asio::const_buffer* bufs, std::size_t count,
                     asio::error_code& ec) noexcept {
    constexpr std::size_t kMaxBuffers = 8;
    std::array<iovec, kMaxBuffers> iov{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < count && n < kMaxBuffers; ++i) {
        if (bufs[i].size() > 0) {
            iov[n].iov_base = const_cast<void*>(bufs[i].data());
            iov[n].iov_len = bufs[i].size();
            ++n;
        }
    }
    if (n == 0) {
        return 0;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n;
    for (;;) {
        const ssize_t r = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            return static_cast<std::size_t>(r);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ec = asio::error_code(errno, asio::error::get_system_category());
        }
        return 0;
    }
}

}  // namespace usher::net
