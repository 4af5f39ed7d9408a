#pragma once
// Server: turns a validated config into a running proxy. Builds the shared snapshot (router,
// resolved endpoints), opens every worker's listeners (reporting bind errors before anything
// runs), starts the worker threads, the health checker and the admin listener, and handles
// signals on the main thread:
//   SIGINT/SIGTERM  stop accepting, finish in-flight requests within drain_timeout, exit 0
//   SIGUSR1         reopen access log files (log rotation)
//   SIGHUP          reload the config file (as POST /config/reload on the admin API)
//   SIGUSR2         graceful binary upgrade (upgrade.hpp): start the binary again with the
//                   listening sockets, then drain and exit once it is ready
// Reload (reload.cpp): load and validate the file; if invalid, the running config stays and the
// errors are logged and returned; if valid, a new snapshot goes to every worker
// (docs/operations.md).
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "admin/admin_server.hpp"
#include "admin/admin_state.hpp"
#include "config/config.hpp"
#include "proxy/worker_context.hpp"
#include "server/snapshot_builder.hpp"
#include "upstream/dns_refresher.hpp"
#include "upstream/health_checker.hpp"

namespace usher::server {

class Worker;

struct ServerOptions {
    // Set by command-line overrides: a reload keeps the running value instead of the file's.
    bool log_level_from_cli = false;
    // The command line this process was started with (SIGUSR2 starts it again); empty: no
    // binary upgrade.
    std::vector<std::string> argv;
};

// FNV-1a (64 bit) of the config text, as 16 hex digits: what /status shows as the config hash.
std::string config_hash(std::string_view text);

class Server {
  public:
    explicit Server(config::ConfigPtr config, ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Runs until a stop signal; returns the process exit code (0 after a clean drain).
    int run();
    // Reloads the config file. Thread-safe (serialised); called on SIGHUP and by the admin API.
    admin::ReloadOutcome reload();
    // SIGUSR2: starts the new process with our listening sockets and waits until it is ready.
    // True: it serves now, this one must drain. False: it failed (logged), this one goes on.
    bool upgrade();

  private:
    // The server's record of one listening socket (every worker has one with the same id).
    struct ListenerState {
        std::uint64_t id = 0;
        std::string name;
        asio::ip::tcp::endpoint configured;  // as configured (port 0: the kernel picked)
        asio::ip::tcp::endpoint bound;
        bool has_tls = false;
    };
    struct ListenerChanges;

    int start();
    void stop();
    bool start_checks(const config::Config& cfg, const proxy::Snapshot& snapshot);
    std::shared_ptr<upstream::DnsRefresher> make_refresher();
    void publish_dns(const std::string& name, std::shared_ptr<const upstream::SharedCluster> c);
    std::vector<admin::ListenerStatus> listener_status() const;
    admin::ActiveRequests active_requests();
    // reload.cpp
    admin::ReloadOutcome reject(std::vector<std::string> errors);
    bool plan_listeners(const config::Config& cfg, ListenerChanges& out,
                        std::vector<std::string>& errors);
    void update_checks(const config::Config& old_cfg, const config::Config& cfg,
                       const proxy::Snapshot& snapshot, const SnapshotChanges& changes);

    config::ConfigPtr config_;
    ServerOptions options_;
    unsigned workers_ = 1;
    std::string hash_;
    std::unique_ptr<admin::AdminState> admin_state_;
    std::unique_ptr<admin::AdminServer> admin_server_;
    std::vector<std::unique_ptr<Worker>> pool_;
    upstream::HealthChecker checker_;
    bool checker_running_ = false;
    // DNS refreshers (the start-up one, one per reload that rebuilt hostname clusters) and the
    // configs their watched clusters live in; a refresher of a cluster a reload replaced keeps
    // running, its results ignored (publish_dns checks the breaker identity).
    std::vector<std::shared_ptr<upstream::DnsRefresher>> refreshers_;
    std::vector<config::ConfigPtr> refresher_configs_;

    std::mutex reload_mu_;   // one reload at a time
    bool stopping_ = false;  // under reload_mu_
    // Guards current_ and the order of what is posted to workers (reload vs DNS updates).
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> current_;
    std::vector<ListenerState> listeners_;  // under reload_mu_
    std::uint64_t next_listener_id_ = 0;
    int upgrade_ready_fd_ = -1;  // started by an upgrade: where to say we are ready
};

}  // namespace usher::server
