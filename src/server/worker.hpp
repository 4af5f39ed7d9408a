#pragma once
// Worker: one thread, one io_context, its own SO_REUSEPORT listening socket per listener, its own
// upstream pools and balancer state. Shares nothing mutable with other workers; the server talks
// to it only by posting to its io_context. So the io_context runs with the UNSAFE_IO concurrency
// hint: no lock per socket operation (only this thread touches its sockets), while the scheduler
// keeps its lock for the server's posts.
//
// Reload (apply()): the worker swaps in the new snapshot between two requests; each connection
// reads the snapshot at the start of each request, so a request in flight finishes on the one it
// started with. Replaced snapshots (and listener infos) stay alive until every connection that
// existed at the swap has closed. Listener sockets the server kept are kept (no refused or reset
// connection); new ones start accepting; removed ones stop accepting (their connections finish).
// Clusters the server marked unchanged keep their per-worker Cluster (pools, balancer state);
// changed ones are rebuilt, adopting idle connections to kept addresses, and the old one is
// retired until no exchange uses it.
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_state.hpp"
#include "proxy/access_log.hpp"
#include "proxy/worker_context.hpp"

namespace usher::server {

struct ListenerSpec {
    proxy::ListenerInfo info;
    asio::ip::tcp::endpoint endpoint;  // port filled in after the first worker binds port 0
    int backlog = 0;
    std::uint64_t max_connections = 0;
};

// One listening socket of a worker, as the server plans it at start-up and on reload. Every
// worker gets the same list (same ids) in the same order.
struct ListenerPlan {
    std::uint64_t id = 0;  // the server's id of this listener socket (stable across reloads)
    std::shared_ptr<const proxy::ListenerInfo> info;
    std::uint64_t max_connections = 0;
    std::unique_ptr<TcpAcceptor> acceptor;  // set: a socket opened for this worker; else kept
};

// A new config for one worker (see apply()).
struct WorkerUpdate {
    proxy::SnapshotPtr snapshot;
    std::vector<ListenerPlan> listeners;
    // Every cluster of the new config: its current endpoints (the snapshot's, or newer after DNS).
    std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> clusters;
    // Clusters whose config changed or that are new: rebuilt. The others keep their Cluster.
    std::set<std::string> rebuilt;
};

// Requests in flight and idle pooled connections per endpoint on this worker.
using InFlight = admin::ActiveRequests;

class Worker {
  public:
    Worker(int id, proxy::SnapshotPtr snapshot, proxy::WorkerStats* stats = nullptr);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    Executor executor() noexcept { return io_.get_executor(); }

    // Opens this worker's listening sockets (called on the main thread before start()).
    // `specs` ports of 0 are replaced by the port actually bound, so later workers share it.
    // Listener i gets id i. With `adopt`, (*adopt)[i] lists sockets inherited from a previous
    // process (binary upgrade) that this worker accepts on instead of opening its own.
    std::error_code open_listeners(std::vector<ListenerSpec>& specs, std::string& failed,
                                   const std::vector<std::vector<int>>* adopt = nullptr);
    // The worker's listening sockets (listener id, fd), answered on its thread.
    std::future<std::vector<std::pair<std::uint64_t, int>>> listening_fds();
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
    // Reload: swaps in `update` on the worker thread (thread-safe: posts). The future is ready
    // once the worker runs the new snapshot (every request it starts from then on uses it).
    std::future<void> apply(WorkerUpdate update);
    // The worker's in-flight requests per endpoint, answered on its thread.
    std::future<InFlight> in_flight();
    void join();

  private:
    // A per-worker cluster with what keeps its pointers valid: the SharedCluster its endpoints'
    // health points into, and the config its config::Cluster lives in.
    struct ClusterOwner {
        std::shared_ptr<const upstream::SharedCluster> shared;
        config::ConfigPtr config;
    };
    struct RetiredCluster {
        std::unique_ptr<upstream::Cluster> cluster;
        ClusterOwner owner;
    };
    struct ListenerSlot {
        std::uint64_t id = 0;
        std::unique_ptr<TcpAcceptor> acceptor;
        std::shared_ptr<const proxy::ListenerInfo> info;
        std::uint64_t max_connections = 0;
    };
    // A replaced snapshot and listener infos, kept until the connections open at the swap close.
    struct RetiredSnapshot {
        proxy::SnapshotPtr snapshot;
        std::vector<std::shared_ptr<const proxy::ListenerInfo>> infos;
        std::vector<const proxy::ClientConnection*> connections;
    };

    void replace_cluster(const std::string& name,
                         std::shared_ptr<const upstream::SharedCluster> shared);
    void retire_cluster(std::unique_ptr<upstream::Cluster> cluster);
    void sweep_retired();
    void apply_now(WorkerUpdate& update);
    void route_table();

    Task<void> accept_loop(std::shared_ptr<ListenerSlot> slot);
    void start_sweeper();
    void finish_when_idle(std::chrono::steady_clock::time_point deadline);

    // Order matters: connections still alive when io_ is destroyed (drain timeout) reach ctx_
    // from their destructors, so ctx_ outlives io_.
    proxy::WorkerContext ctx_;
    // Per cluster object (current and retired): what keeps it valid. Outlives io_ like ctx_.
    std::map<const upstream::Cluster*, ClusterOwner> owners_;
    std::vector<RetiredCluster> retired_;
    std::vector<RetiredSnapshot> retired_snapshots_;
    // At destruction: the listener infos of the slots, kept until connections still alive in
    // io_ (drain timeout) are destroyed with it (they report their close on their listener).
    std::vector<std::shared_ptr<const proxy::ListenerInfo>> final_infos_;
    asio::io_context io_;
    std::vector<std::shared_ptr<ListenerSlot>> slots_;
    std::unique_ptr<proxy::AccessLog> access_log_;
    SteadyTimer sweeper_;
    SteadyTimer drain_timer_;
    bool started_ = false;
    std::thread thread_;
};

}  // namespace usher::server
