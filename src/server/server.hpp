#pragma once
// Server: turns a validated config into a running proxy. Builds the shared snapshot (router,
// resolved endpoints), opens every worker's listeners (reporting bind errors before anything
// runs), starts the worker threads, and handles signals on the main thread:
//   SIGINT/SIGTERM  stop accepting, finish in-flight requests within drain_timeout, exit 0
//   SIGUSR1         reopen access log files (log rotation)
//   SIGHUP          reload (arrives with the operations issue; logged and ignored for now)
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "proxy/worker_context.hpp"

namespace usher::server {

// Compiles the parts of a config that every worker shares. Throws std::runtime_error (with a
// readable message) when an endpoint cannot be resolved or a pattern does not compile.
proxy::SnapshotPtr build_snapshot(config::ConfigPtr config, unsigned workers = 1);

class Server {
  public:
    explicit Server(config::ConfigPtr config);
    // Runs until a stop signal; returns the process exit code (0 after a clean drain).
    int run();

  private:
    config::ConfigPtr config_;
};

}  // namespace usher::server
