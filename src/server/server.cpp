#include "server/server.hpp"

#include <unistd.h>

#include <asio/signal_set.hpp>
#include <csignal>
#include <future>
#include <thread>

#include "core/log.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "server/listener_info.hpp"
#include "server/upgrade.hpp"
#include "server/worker.hpp"

namespace usher::server {

using namespace std::chrono_literals;

std::string config_hash(std::string_view text) {
    std::uint64_t h = 14695981039346656037ull;
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

Server::Server(config::ConfigPtr config, ServerOptions options)
    : config_(std::move(config)), options_(options) {}

Server::~Server() {
    stop();
}

int Server::run() {
    std::signal(SIGPIPE, SIG_IGN);
    // Block the handled signals before any thread starts so only the main thread receives them.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) {
        sigaddset(&set, s);
    }
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    if (int code = start(); code != 0) {
        stop();
        return code;
    }
    signal_upgrade_ready(upgrade_ready_fd_);  // started by an upgrade: the old one may drain
    upgrade_ready_fd_ = -1;

    // Signals: the main thread waits synchronously (they are blocked in every thread).
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGUSR1) {
            log::info("SIGUSR1: reopening access logs");
            for (auto& w : pool_) {
                w->reopen_logs();
            }
            continue;
        }
        if (sig == SIGHUP) {
            log::info("SIGHUP: reloading {}", config_->source);
            reload();  // logs its outcome
            continue;
        }
        if (sig == SIGUSR2) {
            if (upgrade()) {
                break;
            }
            continue;
        }
        break;
    }
    std::chrono::milliseconds drain_timeout;
    {
        std::lock_guard lock(reload_mu_);  // no reload from now on
        stopping_ = true;
        drain_timeout = config_->drain_timeout;
    }

    log::info("{}: draining (up to {}ms)",
              sig == SIGINT ? "SIGINT" : (sig == SIGUSR2 ? "upgrade" : "SIGTERM"),
              drain_timeout.count());
    admin_state_->draining = true;  // /ready answers 503 from now on
    for (auto& w : pool_) {
        w->drain(drain_timeout);
    }
    for (auto& w : pool_) {
        w->join();
    }
    stop();
    log::info("stopped");
    return 0;
}

void Server::stop() {
    checker_.stop();
    if (admin_server_) {
        admin_server_->stop();
    }
}

int Server::start() {
    const auto& cfg = *config_;
    workers_ = cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
    hash_ = config_hash(cfg.text);
    admin_state_ = std::make_unique<admin::AdminState>(cfg.source, workers_);
    proxy::SnapshotPtr snapshot;
    try {
        snapshot = build_snapshot(config_, workers_);
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return 1;
    }
    for (const auto& [name, shared] : snapshot->clusters) {
        current_[name] = std::make_shared<const upstream::SharedCluster>(shared);
    }

    std::vector<ListenerSpec> specs;
    std::vector<ListenerState> states;
    for (const auto& l : cfg.listeners) {
        std::shared_ptr<const net::TlsServerContext> tls;
        if (l.tls) {  // one context per TLS listener, shared by every worker
            std::vector<std::string> errors;
            tls = build_listener_tls(l, errors);
            for (const auto& e : errors) {
                log::error("{}", e);
            }
            if (!tls) {
                return 1;
            }
        }
        std::vector<asio::ip::tcp::endpoint> eps;
        try {
            eps = net::resolve(l.address);
        } catch (const std::exception& e) {
            log::error("listener {}: {}", l.name, e.what());
            return 1;
        }
        for (const auto& ep : eps) {
            specs.push_back({make_listener_info(l, tls, l.address.to_string()), ep, l.backlog,
                             l.max_connections});
            ListenerState st;
            st.id = next_listener_id_++;
            st.name = l.name;
            st.configured = ep;
            st.has_tls = l.tls.has_value();
            states.push_back(std::move(st));
        }
    }

    // After a binary upgrade: the old process's sockets, matched to our listeners by address
    // (or, for a listener on port 0, by name and host), spread over our workers.
    auto inherited = take_inherited_listeners();
    upgrade_ready_fd_ = take_upgrade_ready_fd();
    std::vector<std::vector<int>> adopted(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        for (auto& in : inherited) {
            const bool same = in.address == specs[i].endpoint ||
                              (specs[i].endpoint.port() == 0 && in.name == specs[i].info.name &&
                               in.address.address() == specs[i].endpoint.address());
            if (!in.used && same) {
                in.used = true;
                adopted[i].push_back(in.fd);
                specs[i].endpoint = in.address;  // port 0: the port the old process had
            }
        }
    }
    for (auto& in : inherited) {
        if (!in.used) {
            log::warn("upgrade: no listener on {} any more; its socket is closed",
                      upstream::address_string(in.address));
            ::close(in.fd);
        }
    }
    try {
        for (unsigned i = 0; i < workers_; ++i) {
            pool_.push_back(std::make_unique<Worker>(static_cast<int>(i), snapshot,
                                                     &admin_state_->worker_metrics(i)));
            std::vector<std::vector<int>> mine(specs.size());
            for (std::size_t l = 0; l < specs.size(); ++l) {
                for (std::size_t k = i; k < adopted[l].size(); k += workers_) {
                    mine[l].push_back(adopted[l][k]);
                }
            }
            std::string failed;
            if (auto ec = pool_.back()->open_listeners(specs, failed, &mine)) {
                log::error("cannot listen on {}: {}", failed, ec.message());
                return 1;
            }
        }
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return 1;
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
        states[i].bound = specs[i].endpoint;
    }
    listeners_ = std::move(states);

    if (cfg.admin) {
        admin_server_ = std::make_unique<admin::AdminServer>(*admin_state_, *cfg.admin);
        std::string failed;
        if (auto ec = admin_server_->open(failed)) {
            log::error("admin: cannot listen on {}: {}", failed, ec.message());
            return 1;
        }
        if (cfg.admin->token.empty() && !cfg.admin->listen.host.empty() &&
            cfg.admin->listen.host != "127.0.0.1" && cfg.admin->listen.host != "::1" &&
            cfg.admin->listen.host != "localhost") {
            log::warn(
                "admin: listening on {} without a token: anyone who can reach it can "
                "reload and drain",
                cfg.admin->listen.to_string());
        }
    }

    // Published before the checker runs, so no DNS update can arrive ahead of it.
    admin_state_->set_config(snapshot, listener_status(), hash_);
    checker_running_ = start_checks(cfg, *snapshot);
    for (auto& w : pool_) {
        w->start();
    }
    admin_state_->reload = [this] { return reload(); };
    admin_state_->active_requests = [this] { return active_requests(); };
    admin_state_->ready = true;
    for (const auto& s : specs) {
        log::info("listening on {}://{} (listener {}, {} worker{})", s.info.tls ? "https" : "http",
                  s.info.address, s.info.name, workers_, workers_ == 1 ? "" : "s");
    }
    if (admin_server_) {
        admin_server_->start();
        log::info("admin: serving on http://{}", admin_server_->address());
    }
    log::info("usher {} ready: {} route(s), {} cluster(s), config {}", USHER_VERSION,
              cfg.routes.size(), cfg.clusters.size(), hash_);
    return 0;
}

bool Server::start_checks(const config::Config& cfg, const proxy::Snapshot& snapshot) {
    // One health checker for the whole process; workers read its results lock-free.
    for (const auto& [name, cluster] : cfg.clusters) {
        if (cluster.health_check) {
            const auto& shared = snapshot.clusters.at(name);
            checker_.add_cluster(name, *cluster.health_check, shared.endpoints, shared.tls);
        }
    }
    // DNS: endpoint hostnames are re-resolved on the checker's thread; a changed address set
    // goes to the checker (which endpoints to check) and to every worker (posted).
    auto dns = make_refresher();
    for (const auto& [name, cluster] : cfg.clusters) {
        dns->add_cluster(cluster, snapshot.clusters.at(name));
    }
    if (!dns->empty()) {
        checker_.spawn(dns->run());
        refreshers_.push_back(std::move(dns));
        refresher_configs_.push_back(config_);
    }
    const bool runs = !checker_.empty();
    checker_.start();
    return runs;
}

std::shared_ptr<upstream::DnsRefresher> Server::make_refresher() {
    return std::make_shared<upstream::DnsRefresher>(
        [this](const std::string& name, std::shared_ptr<const upstream::SharedCluster> shared) {
            publish_dns(name, std::move(shared));
        },
        workers_);
}

void Server::publish_dns(const std::string& name,
                         std::shared_ptr<const upstream::SharedCluster> shared) {
    // On the checker thread. A refresher of a cluster a reload rebuilt (other breaker counters)
    // is stale: its results are dropped.
    std::lock_guard lock(mu_);
    auto it = current_.find(name);
    if (it == current_.end() || it->second->circuit != shared->circuit) {
        return;
    }
    it->second = shared;
    checker_.update_cluster(name, shared->endpoints);
    for (auto& w : pool_) {
        w->update_cluster(name, shared);
    }
    admin_state_->set_cluster(name, shared);
}

std::vector<admin::ListenerStatus> Server::listener_status() const {
    std::vector<admin::ListenerStatus> out;
    for (const auto& l : listeners_) {
        out.push_back({l.name, upstream::address_string(l.bound), l.has_tls});
    }
    return out;
}

bool Server::upgrade() {
    std::lock_guard lock(reload_mu_);  // no reload while the sockets are handed over
    if (stopping_) {
        return false;
    }
    if (options_.argv.empty()) {
        log::error("SIGUSR2: binary upgrade unavailable (no command line recorded)");
        return false;
    }
    std::vector<std::pair<int, std::string>> fds;
    std::vector<std::future<std::vector<std::pair<std::uint64_t, int>>>> futures;
    for (auto& w : pool_) {
        futures.push_back(w->listening_fds());
    }
    for (auto& f : futures) {
        if (f.wait_for(2s) != std::future_status::ready) {
            log::error("SIGUSR2: a worker did not answer; upgrade abandoned");
            return false;
        }
        for (const auto& [id, fd] : f.get()) {
            std::string name;
            for (const auto& l : listeners_) {
                if (l.id == id) {
                    name = l.name;
                }
            }
            fds.emplace_back(fd, name);
        }
    }
    log::info("SIGUSR2: starting {} with {} listening socket(s)", options_.argv.front(),
              fds.size());
    std::string error;
    auto child = spawn_upgrade(options_.argv, fds, error);
    if (!child) {
        log::error("upgrade: cannot start {}: {}", options_.argv.front(), error);
        return false;
    }
    if (!wait_upgrade_ready(*child, 30s, error)) {
        log::error("upgrade: new process {} failed: {}; this one keeps serving", child->pid, error);
        return false;
    }
    log::info("upgrade: new process {} is ready; this one ({}) drains and exits", child->pid,
              ::getpid());
    stopping_ = true;
    return true;
}

admin::ActiveRequests Server::active_requests() {
    std::vector<std::future<InFlight>> futures;
    for (auto& w : pool_) {
        futures.push_back(w->in_flight());
    }
    admin::ActiveRequests total;
    const auto deadline = std::chrono::steady_clock::now() + 500ms;
    for (auto& f : futures) {
        if (f.wait_until(deadline) != std::future_status::ready) {
            continue;  // a busy or stopped worker: its share is left out
        }
        try {
            for (const auto& [key, a] : f.get()) {
                total[key].requests += a.requests;
                total[key].idle += a.idle;
            }
        } catch (const std::future_error&) {
        }
    }
    return total;
}

}  // namespace usher::server
