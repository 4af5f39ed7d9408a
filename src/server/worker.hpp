#pragma once
// Worker: one thread, one io_context (concurrency hint 1), its own SO_REUSEPORT listening socket
// per listener, its own upstream pools and balancer state. Shares nothing mutable with other
// workers; the server talks to it only by posting to its io_context.
#include <map>
#include <memory>
#include <string>
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
    // Cluster `name` has new endpoints (DNS re-resolution). Thread-safe: posts to this worker.
    // On the worker thread a new Cluster is built on `shared` and adopts the old one's idle
    // connections to kept addresses; routes switch to it; the old one is retired: its other idle
    // connections (to removed addresses) are closed at once, and it is destroyed once no
    // exchange uses it (checked by the once-a-second sweeper).
    void update_cluster(std::string name, std::shared_ptr<const upstream::SharedCluster> shared);
    void join();

  private:
    // A replaced cluster kept alive for the exchanges still using it, with the endpoints its
    // Endpoint::health pointers point into.
    struct RetiredCluster {
        std::unique_ptr<upstream::Cluster> cluster;
        std::shared_ptr<const upstream::SharedCluster> shared;
    };
    void replace_cluster(const std::string& name,
                         std::shared_ptr<const upstream::SharedCluster> shared);
    void sweep_retired();

    Task<void> accept_loop(std::size_t index);
    void start_sweeper();
    void finish_when_idle(std::chrono::steady_clock::time_point deadline);

    // Order matters: connections still alive when io_ is destroyed (drain timeout) reach ctx_
    // from their destructors, so ctx_ outlives io_.
    proxy::WorkerContext ctx_;
    // Endpoints of the clusters DNS replaced (the snapshot owns the others), and the retired
    // clusters; both outlive io_ for the same reason as ctx_.
    std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> replaced_;
    std::vector<RetiredCluster> retired_;
    asio::io_context io_;
    std::vector<ListenerSpec> specs_;
    std::vector<std::unique_ptr<TcpAcceptor>> acceptors_;
    std::unique_ptr<proxy::AccessLog> access_log_;
    SteadyTimer sweeper_;
    SteadyTimer drain_timer_;
    std::thread thread_;
};

}  // namespace usher::server
