#pragma once
// Graceful binary upgrade (SIGUSR2): the running usher starts the usher binary found at the path
// it was started with (so a new build installed there takes over), handing it every listening
// socket (fd passing across exec). The new process serves on the same sockets: it never re-binds,
// so no connection waiting in a listen queue is refused or reset. Once it says it is ready (a byte
// on a pipe, after its own start-up succeeded), the old one drains and exits as on SIGTERM. If the
// new one fails or is not ready within the timeout, it is stopped and the old one keeps serving.
//
//   USHER_INHERITED_FDS   "fd=name,fd=name,..."  listening sockets and their listener names
//   USHER_UPGRADE_READY   the pipe's write end (the child writes one byte when ready)
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/asio.hpp"

namespace usher::server {

// A listening socket received from the previous process.
struct InheritedListener {
    int fd = -1;
    std::string name;                 // its listener's name in the old config
    asio::ip::tcp::endpoint address;  // as bound
    bool used = false;
};

// New process: takes the sockets named by USHER_INHERITED_FDS (and clears the variable, so a
// later upgrade of this process starts clean). Called before any thread starts. Sockets that are
// not listening TCP sockets are closed and skipped.
std::vector<InheritedListener> take_inherited_listeners();
// New process: the readiness pipe named by USHER_UPGRADE_READY, or -1 (clears the variable).
// Called before any thread starts (the environment is not changed while others may read it).
int take_upgrade_ready_fd();
// New process: tells the old one that start-up succeeded (no-op for -1).
void signal_upgrade_ready(int fd);

struct UpgradeChild {
    pid_t pid = -1;
    int ready_fd = -1;  // read end of the readiness pipe
};

// Old process: starts `argv` (argv[0] is the binary) with only stdin/stdout/stderr and the
// listening sockets `fds` (fd and listener name) open. Returns nullopt with `error` on failure.
std::optional<UpgradeChild> spawn_upgrade(const std::vector<std::string>& argv,
                                          const std::vector<std::pair<int, std::string>>& fds,
                                          std::string& error);
// Old process: waits for the child's readiness byte. False (with `error`) when the child exited,
// closed the pipe without it, or `timeout` passed; the child is then stopped and reaped.
bool wait_upgrade_ready(UpgradeChild& child, std::chrono::milliseconds timeout, std::string& error);

}  // namespace usher::server
