#include "server/server.hpp"

#include <asio/signal_set.hpp>
#include <csignal>
#include <thread>

#include "core/log.hpp"
#include "net/listener.hpp"
#include "net/tls_client_context.hpp"
#include "net/tls_context.hpp"
#include "server/worker.hpp"
#include "upstream/dns_refresher.hpp"
#include "upstream/health_checker.hpp"

namespace usher::server {

proxy::SnapshotPtr build_snapshot(config::ConfigPtr config, unsigned workers) {
    auto snap = std::make_shared<proxy::Snapshot>();
    snap->router = std::make_shared<proxy::Router>(*config);
    for (const auto& cidr : config->proxy.trusted_proxies) {
        std::string error;
        if (!net::CidrSet::parse(cidr, snap->trusted_proxies, &error)) {
            throw std::runtime_error("proxy.trusted_proxies: " + error);
        }
    }
    for (const auto& [name, cluster] : config->clusters) {
        if (cluster.tls) {  // one client context per TLS cluster, shared by every worker
            auto built = net::TlsClientContext::build(*cluster.tls);
            if (!built.context) {
                std::string all;
                for (const auto& e : built.errors) {
                    all += (all.empty() ? "cluster " + name + ": " : "; ") + e;
                }
                throw std::runtime_error(all);
            }
            if (!cluster.tls->verify) {
                log::warn("cluster {}: tls verify is off: backend certificates are not checked",
                          name);
            }
            snap->clusters[name].tls = std::move(built.context);
        }
        auto& shared = snap->clusters[name].endpoints;
        for (const auto& ep : cluster.endpoints) {
            for (const auto& addr : net::resolve(ep.address)) {
                upstream::SharedEndpoint se;
                se.label = ep.address.to_string();
                se.address = addr;
                se.weight = ep.weight;
                se.health = std::make_shared<upstream::EndpointHealth>(workers);
                se.health->draining.store(ep.drain, std::memory_order_relaxed);
                shared.push_back(std::move(se));
            }
        }
    }
    snap->config = std::move(config);
    return snap;
}

Server::Server(config::ConfigPtr config) : config_(std::move(config)) {}

int Server::run() {
    std::signal(SIGPIPE, SIG_IGN);
    // Block the handled signals before workers start so only the main thread receives them.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
        sigaddset(&set, s);
    }
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    const auto& cfg = *config_;
    unsigned workers =
        cfg.workers != 0 ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
    proxy::SnapshotPtr snapshot;
    try {
        snapshot = build_snapshot(config_, workers);
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return 1;
    }

    std::vector<ListenerSpec> specs;
    for (const auto& l : cfg.listeners) {
        std::shared_ptr<const net::TlsServerContext> tls;
        if (l.tls) {  // one context per TLS listener, shared by every worker
            auto built = net::TlsServerContext::build(*l.tls);
            for (const auto& e : built.errors) {
                log::error("listener {}: {}", l.name, e);
            }
            if (!built.context) {
                return 1;
            }
            tls = std::move(built.context);
        }
        std::vector<asio::ip::tcp::endpoint> eps;
        try {
            eps = net::resolve(l.address);
        } catch (const std::exception& e) {
            log::error("listener {}: {}", l.name, e.what());
            return 1;
        }
        for (const auto& ep : eps) {
            specs.push_back({{l.name, l.address.to_string(), tls, l.redirect_to_https,
                              l.redirect_https_port, l.hsts ? l.hsts->header_value() : ""},
                             ep,
                             l.backlog,
                             l.max_connections});
        }
    }

    std::vector<std::unique_ptr<Worker>> pool;
    try {
        for (unsigned i = 0; i < workers; ++i) {
            pool.push_back(std::make_unique<Worker>(static_cast<int>(i), snapshot));
            std::string failed;
            if (auto ec = pool.back()->open_listeners(specs, failed)) {
                log::error("cannot listen on {}: {}", failed, ec.message());
                return 1;
            }
        }
    } catch (const std::exception& e) {
        log::error("{}", e.what());
        return 1;
    }
    // One health checker for the whole process; workers read its results lock-free.
    upstream::HealthChecker checker;
    for (const auto& [name, cluster] : cfg.clusters) {
        if (cluster.health_check) {
            const auto& shared = snapshot->clusters.at(name);
            checker.add_cluster(name, *cluster.health_check, shared.endpoints, shared.tls);
        }
    }
    // DNS: endpoint hostnames are re-resolved on the checker's thread; a changed address set
    // goes to the checker (which endpoints to check) and to every worker (posted).
    upstream::DnsRefresher dns(
        [&checker, &pool](const std::string& name,
                          std::shared_ptr<const upstream::SharedCluster> shared) {
            checker.update_cluster(name, shared->endpoints);
            for (auto& w : pool) {
                w->update_cluster(name, shared);
            }
        },
        workers);
    for (const auto& [name, cluster] : cfg.clusters) {
        dns.add_cluster(cluster, snapshot->clusters.at(name));
    }
    if (!dns.empty()) {
        checker.spawn(dns.run());
    }
    checker.start();
    for (auto& w : pool) {
        w->start();
    }
    for (const auto& s : specs) {
        log::info("listening on {}://{} (listener {}, {} worker{})", s.info.tls ? "https" : "http",
                  s.info.address, s.info.name, workers, workers == 1 ? "" : "s");
    }
    log::info("usher {} ready: {} route(s), {} cluster(s)", USHER_VERSION, cfg.routes.size(),
              cfg.clusters.size());

    // Signals: the main thread waits synchronously (they are blocked in every thread).
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGUSR1) {
            log::info("SIGUSR1: reopening access logs");
            for (auto& w : pool) {
                w->reopen_logs();
            }
            continue;
        }
        if (sig == SIGHUP) {
            log::warn(
                "SIGHUP: configuration reload is not supported yet; still running the old config");
            continue;
        }
        log::info("{}: draining (up to {}ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                  cfg.drain_timeout.count());
        break;
    }
    for (auto& w : pool) {
        w->drain(cfg.drain_timeout);
    }
    for (auto& w : pool) {
        w->join();
    }
    checker.stop();
    log::info("stopped");
    return 0;
}

}  // namespace usher::server
