#include "server/upgrade.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.hpp"

extern char** environ;

namespace usher::server {
namespace {

constexpr const char* kFdsVar = "USHER_INHERITED_FDS";
constexpr const char* kReadyVar = "USHER_UPGRADE_READY";

std::optional<asio::ip::tcp::endpoint> listening_address(int fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
        return std::nullopt;
    }
    asio::ip::tcp::endpoint ep;
    socklen_t size = static_cast<socklen_t>(ep.capacity());
    if (::getsockname(fd, ep.data(), &size) != 0) {
        return std::nullopt;
    }
    ep.resize(size);
    return ep;
}

}  // namespace

std::vector<InheritedListener> take_inherited_listeners() {
    std::vector<InheritedListener> out;
    const char* value = std::getenv(kFdsVar);
    if (value == nullptr) {
        return out;
    }
    std::string text(value);
    ::unsetenv(kFdsVar);
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find(',', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string item = text.substr(pos, end - pos);
        pos = end + 1;
        const auto eq = item.find('=');
        const int fd = std::atoi(item.substr(0, eq).c_str());
        if (fd < 3) {
            continue;
        }
        const auto address = listening_address(fd);
        if (!address) {
            log::warn("upgrade: inherited fd {} is not a listening TCP socket; closed", fd);
            ::close(fd);
            continue;
        }
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // ours now; not for our own children
        out.push_back({fd, eq == std::string::npos ? "" : item.substr(eq + 1), *address});
    }
    return out;
}

int take_upgrade_ready_fd() {
    const char* value = std::getenv(kReadyVar);
    if (value == nullptr) {
        return -1;
    }
    const int fd = std::atoi(value);
    ::unsetenv(kReadyVar);
    if (fd < 3) {
        return -1;
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

void signal_upgrade_ready(int fd) {
    if (fd >= 3) {
        const char byte = 1;
        [[maybe_unused]] auto n = ::write(fd, &byte, 1);
        ::close(fd);
    }
}

std::optional<UpgradeChild> spawn_upgrade(const std::vector<std::string>& argv,
                                          const std::vector<std::pair<int, std::string>>& fds,
                                          std::string& error) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        return std::nullopt;
    }
    // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
    std::string list;
    std::vector<int> keep{pipe_fds[1]};
    for (const auto& [fd, name] : fds) {
        list.append(list.empty() ? "" : ",").append(std::to_string(fd));
        if (name.find_first_of(",=") == std::string::npos) {
            list.append("=").append(name);
        }
        keep.push_back(fd);
    }
    std::sort(keep.begin(), keep.end());
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view v(*e);
        if (v.rfind(std::string(kFdsVar) + "=", 0) != 0 &&
            v.rfind(std::string(kReadyVar) + "=", 0) != 0) {
            env_store.emplace_back(v);
        }
    }
    env_store.push_back(std::string(kFdsVar) + "=" + list);
    env_store.push_back(std::string(kReadyVar) + "=" + std::to_string(pipe_fds[1]));
    std::vector<char*> envp;
    for (auto& e : env_store) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& a : args) {
        argp.push_back(a.data());
    }
    argp.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        return std::nullopt;
    }
    if (pid == 0) {
        // Child: no signal stays blocked, every fd but 0-2 and `keep` is closed (upstream and
        // client connections must not outlive the old process in the new one).
        sigset_t none;
        sigemptyset(&none);
        ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
        unsigned int from = 3;
        for (int fd : keep) {
            if (static_cast<unsigned int>(fd) > from) {
                ::close_range(from, static_cast<unsigned int>(fd) - 1, 0);
            }
            ::fcntl(fd, F_SETFD, 0);  // survive exec
            from = static_cast<unsigned int>(fd) + 1;
        }
        ::close_range(from, ~0u, 0);
        ::execve(argp[0], argp.data(), envp.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    return UpgradeChild{pid, pipe_fds[0]};
}

bool wait_upgrade_ready(UpgradeChild& child, std::chrono::milliseconds timeout,
                        std::string& error) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool ready = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            error = "not ready within " + std::to_string(timeout.count()) + "ms";
            break;
        }
        pollfd p{child.ready_fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n > 0) {
            char byte = 0;
            ready = ::read(child.ready_fd, &byte, 1) == 1;
            if (!ready) {
                error = "it exited or failed during start-up (see its log lines)";
            }
        }
        break;
    }
    ::close(child.ready_fd);
    child.ready_fd = -1;
    if (!ready) {
        ::kill(child.pid, SIGTERM);
        int status = 0;
        ::waitpid(child.pid, &status, 0);
    }
    return ready;
}

}  // namespace usher::server
