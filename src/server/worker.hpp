#pragma once
// Worker: one thread, one io_context (concurrency hint 1), its own SO_REUSEPORT listening socket
// per listener, its own upstream pools and balancer state. Shares nothing mutable with other
// workers; the server talks to it only by posting to its io_context.
#include <memory>
#include <thread>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/worker_context.hpp"

namespace usher::server {

struct ListenerSpec {
    proxy::ListenerInfo info;
    asio::ip::tcp::endpoint endpoint;  // port filled in after the first worker binds port 0
    int backlog = 0;
    std::uint64_t max_connections = 0;
};

class Worker {
  public:
    Worker(int id, proxy::SnapshotPtr snapshot);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Opens this worker's listening sockets (called on the main thread before start()).
    // `specs` ports of 0 are replaced by the port actually bound, so later workers share it.
    std::error_code open_listeners(std::vector<ListenerSpec>& specs, std::string& failed);
    void start();
    // Stops accepting, closes idle connections, lets busy ones finish; the thread exits when the
    // last connection is gone or `timeout` passes.
    void drain(std::chrono::milliseconds timeout);
    void reopen_logs();
    void join();

  private:
    Task<void> accept_loop(std::size_t index);
    void start_sweeper();
    void finish_when_idle(std::chrono::steady_clock::time_point deadline);

    // Order matters: connections still alive when io_ is destroyed (drain timeout) reach ctx_
    // from their destructors, so ctx_ outlives io_.
    proxy::WorkerContext ctx_;
    asio::io_context io_;
    std::vector<ListenerSpec> specs_;
    std::vector<std::unique_ptr<TcpAcceptor>> acceptors_;
    std::unique_ptr<proxy::AccessLog> access_log_;
    SteadyTimer sweeper_;
    SteadyTimer drain_timer_;
    std::thread thread_;
};

}  // namespace usher::server
