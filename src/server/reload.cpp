// Server::reload: load and validate, then swap in a new snapshot without dropping anything
// (docs/operations.md, "Reload"). Nothing the running proxy uses is touched until every step that
// can fail (load, validation, resolution, TLS contexts, binding new listeners) has succeeded.
#include <algorithm>
#include <future>

#include "config/loader.hpp"
#include "core/log.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "server/listener_info.hpp"
#include "server/server.hpp"
#include "server/worker.hpp"

namespace usher::server {

// The listener sockets of the new config: per listener endpoint, either a kept socket (its id)
// or new sockets opened for every worker.
struct Server::ListenerChanges {
    std::vector<ListenerState> states;  // the new listeners_
    // Per worker, the plans (same order as states).
    std::vector<std::vector<ListenerPlan>> plans;
    std::size_t kept = 0, added = 0, removed = 0;
};

admin::ReloadOutcome Server::reject(std::vector<std::string> errors) {
    for (const auto& e : errors) {
        log::error("reload: {}", e);
    }
    log::error("reload rejected ({} error{}): still running config {}", errors.size(),
               errors.size() == 1 ? "" : "s", hash_);
    admin_state_->record_reload({false, std::chrono::system_clock::now(), errors});
    return {422, std::move(errors), hash_};
}

bool Server::plan_listeners(const config::Config& cfg, ListenerChanges& out,
                            std::vector<std::string>& errors) {
    out.plans.resize(pool_.size());
    std::vector<bool> matched(listeners_.size(), false);
    for (const auto& l : cfg.listeners) {
        std::vector<asio::ip::tcp::endpoint> eps;
        try {
            eps = net::resolve(l.address);
        } catch (const std::exception& e) {
            errors.push_back("listener " + l.name + ": " + e.what());
            continue;
        }
        // The TLS context is always built anew: a reload is how rotated certificate files are
        // picked up (connections in progress keep the context they started with).
        std::shared_ptr<const net::TlsServerContext> tls;
        if (l.tls) {
            std::vector<std::string> tls_errors;
            tls = build_listener_tls(l, tls_errors);
            if (!tls) {
                errors.insert(errors.end(), tls_errors.begin(), tls_errors.end());
                continue;
            }
            for (const auto& e : tls_errors) {
                log::warn("reload: {}", e);
            }
        }
        for (const auto& ep : eps) {
            ListenerState st;
            st.name = l.name;
            st.configured = ep;
            st.has_tls = l.tls.has_value();
            // The same socket: the same bound address, or (port 0) the same configured one.
            std::size_t found = listeners_.size();
            for (std::size_t i = 0; i < listeners_.size(); ++i) {
                const auto& old = listeners_[i];
                if (!matched[i] && (old.bound == ep || (ep.port() == 0 && old.configured == ep &&
                                                        old.name == l.name))) {
                    found = i;
                    break;
                }
            }
            if (found != listeners_.size()) {
                matched[found] = true;
                st.id = listeners_[found].id;
                st.bound = listeners_[found].bound;
                ++out.kept;
            } else {
                st.id = next_listener_id_++;
                st.bound = ep;
                ++out.added;
            }
            auto info = std::make_shared<const proxy::ListenerInfo>(
                make_listener_info(l, tls, upstream::address_string(st.bound)));
            for (std::size_t w = 0; w < pool_.size(); ++w) {
                ListenerPlan plan{st.id, info, l.max_connections, nullptr};
                if (found == listeners_.size()) {
                    plan.acceptor = std::make_unique<TcpAcceptor>(pool_[w]->executor());
                    if (auto ec = net::open_listener(*plan.acceptor, st.bound, l.backlog)) {
                        errors.push_back("listener " + l.name + ": cannot listen on " +
                                         upstream::address_string(st.bound) + ": " + ec.message());
                        break;
                    }
                    if (st.bound.port() == 0) {  // later workers share the port the first got
                        st.bound.port(plan.acceptor->local_endpoint().port());
                        info = std::make_shared<const proxy::ListenerInfo>(
                            make_listener_info(l, tls, upstream::address_string(st.bound)));
                        plan.info = info;
                    }
                }
                out.plans[w].push_back(std::move(plan));
            }
            out.states.push_back(std::move(st));
        }
    }
    out.removed = static_cast<std::size_t>(std::count(matched.begin(), matched.end(), false));
    return errors.empty();
}

void Server::update_checks(const config::Config& old_cfg, const config::Config& cfg,
                           const proxy::Snapshot& snapshot, const SnapshotChanges& changes) {
    // Health checks of removed and rebuilt clusters stop; rebuilt ones with a check start again
    // (kept endpoints keep their health state, so no endpoint flaps). All on the checker thread.
    std::vector<std::string> stop;
    for (const auto& [name, c] : old_cfg.clusters) {
        if (c.health_check && (!cfg.clusters.count(name) || changes.rebuilt.count(name))) {
            stop.push_back(name);
        }
    }
    struct Add {
        std::string name;
        config::HealthCheck check;
        upstream::SharedCluster shared;
    };
    std::vector<Add> add;
    for (const auto& name : changes.rebuilt) {
        const auto& c = cfg.clusters.at(name);
        if (c.health_check) {
            add.push_back({name, *c.health_check, snapshot.clusters.at(name)});
        }
    }
    if (stop.empty() && add.empty()) {
        return;
    }
    auto apply = [this, stop = std::move(stop), add = std::move(add)] {
        for (const auto& name : stop) {
            checker_.update_cluster(name, {});
        }
        for (const auto& a : add) {
            checker_.add_cluster(a.name, a.check, a.shared.endpoints, a.shared.tls);
        }
    };
    if (checker_running_) {
        asio::post(checker_.executor(), std::move(apply));
    } else {
        apply();  // the checker thread is not running: nothing else touches it
        checker_running_ = !checker_.empty();
        checker_.start();
    }
}

admin::ReloadOutcome Server::reload() {
    std::lock_guard reload_lock(reload_mu_);
    if (stopping_) {
        return {503, {"shutting down"}, hash_};
    }
    const std::string path = config_->source;
    if (config_->text.empty() || path.empty() || path.front() == '<') {
        return reject({"started without a config file (quick mode): nothing to reload"});
    }
    auto loaded = config::load_file(path);
    if (!loaded.ok()) {
        std::vector<std::string> errors;
        for (const auto& e : loaded.errors) {
            errors.push_back(e.to_string());
        }
        return reject(std::move(errors));
    }
    auto next = loaded.config;
    if (next->workers != config_->workers && next->workers != 0) {
        log::warn("reload: workers: changes take effect on restart (running {})", workers_);
    }
    next->workers = config_->workers;
    if (!(next->access_log.path == config_->access_log.path &&
          next->access_log.format == config_->access_log.format)) {
        log::warn("reload: access_log: changes take effect on restart");
    }
    const bool admin_same = next->admin.has_value() == config_->admin.has_value() &&
                            (!next->admin || (next->admin->listen == config_->admin->listen &&
                                              next->admin->token == config_->admin->token));
    if (!admin_same) {
        log::warn("reload: admin: changes take effect on restart");
    }
    if (options_.log_level_from_cli) {
        next->log_level = config_->log_level;
    }
    std::vector<std::string> errors;
    for (const auto& e : net::check_tls_config(*next)) {
        errors.push_back(e);
    }
    if (!errors.empty()) {
        return reject(std::move(errors));
    }

    // The new snapshot, taking over unchanged clusters as they run now.
    ClusterReuse reuse;
    reuse.old_config = config_.get();
    {
        std::lock_guard lock(mu_);
        reuse.current = current_;
    }
    SnapshotChanges changes;
    proxy::SnapshotPtr snapshot;
    try {
        snapshot = build_snapshot(next, workers_, &reuse, &changes);
    } catch (const std::exception& e) {
        return reject({e.what()});
    }
    ListenerChanges listeners;
    if (!plan_listeners(*next, listeners, errors)) {
        return reject(std::move(errors));  // opened sockets close with the plans
    }

    // Commit: nothing below fails.
    const auto old = config_;
    std::vector<std::future<void>> applied;
    for (const auto& h : changes.drain) {
        h->set_draining(true);
    }
    {
        std::lock_guard lock(mu_);
        std::map<std::string, std::shared_ptr<const upstream::SharedCluster>> current;
        for (const auto& [name, shared] : snapshot->clusters) {
            auto it = current_.find(name);
            current[name] = it != current_.end() && !changes.rebuilt.count(name)
                                ? it->second  // kept (with any DNS update since)
                                : std::make_shared<const upstream::SharedCluster>(shared);
        }
        current_ = current;
        update_checks(*old, *next, *snapshot, changes);
        for (std::size_t w = 0; w < pool_.size(); ++w) {
            WorkerUpdate update;
            update.snapshot = snapshot;
            update.listeners = std::move(listeners.plans[w]);
            update.clusters = current;
            update.rebuilt = changes.rebuilt;
            applied.push_back(pool_[w]->apply(std::move(update)));
        }
    }
    // Returns once every worker runs the new snapshot: a request sent after a successful reload
    // is served by the new config. (A worker stuck for seconds is not waited for forever.)
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (auto& f : applied) {
        if (f.wait_until(deadline) != std::future_status::ready) {
            log::warn("reload: a worker has not switched to the new config within 5s");
            break;
        }
    }
    // Hostname clusters built anew get their own DNS refresher (the config must outlive it).
    auto dns = make_refresher();
    for (const auto& name : changes.rebuilt) {
        dns->add_cluster(next->clusters.at(name), snapshot->clusters.at(name));
    }
    if (!dns->empty()) {
        if (checker_running_) {
            asio::co_spawn(checker_.executor(), dns->run(), asio::detached);
        } else {
            checker_.spawn(dns->run());
            checker_running_ = true;
            checker_.start();
        }
        refreshers_.push_back(std::move(dns));
        refresher_configs_.push_back(next);
    }
    listeners_ = std::move(listeners.states);
    config_ = next;
    hash_ = config_hash(next->text);
    if (!options_.log_level_from_cli) {
        log::set_level(static_cast<log::Level>(next->log_level));
    }
    admin_state_->set_config(snapshot, listener_status(), hash_);
    admin_state_->record_reload({true, std::chrono::system_clock::now(), {}});
    for (const auto& l : listeners_) {
        log::debug("reload: listener {} on {}", l.name, upstream::address_string(l.bound));
    }
    log::info(
        "reload applied: config {}; listeners kept {}, added {}, removed {}; clusters rebuilt {} "
        "of {}",
        hash_, listeners.kept, listeners.added, listeners.removed, changes.rebuilt.size(),
        next->clusters.size());
    return {200, {}, hash_};
}

}  // namespace usher::server
