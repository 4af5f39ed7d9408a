#include "server/worker.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/log.hpp"
#include "net/listener.hpp"
#include "proxy/client_connection.hpp"
#include "upstream/dns_refresher.hpp"

namespace usher::server {

using namespace std::chrono_literals;

Worker::Worker(int id, proxy::SnapshotPtr snapshot, proxy::WorkerStats* stats)
    : ctx_(id),
      io_(ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      sweeper_(io_.get_executor()),
      drain_timer_(io_.get_executor()) {
    ctx_.io = &io_;
    ctx_.stats = stats;
    ctx_.snapshot = std::move(snapshot);
    const auto& cfg = *ctx_.snapshot->config;
    // This worker's runtime clusters and the route -> cluster table.
    for (const auto& [name, cluster_cfg] : cfg.clusters) {
        auto shared =
            std::make_shared<const upstream::SharedCluster>(ctx_.snapshot->clusters.at(name));
        ctx_.clusters.push_back(std::make_unique<upstream::Cluster>(cluster_cfg, *shared,
                                                                    static_cast<std::size_t>(id)));
        owners_[ctx_.clusters.back().get()] = {std::move(shared), ctx_.snapshot->config};
    }
    route_table();
    if (cfg.access_log.enabled()) {
        access_log_ = std::make_unique<proxy::AccessLog>(cfg.access_log, io_);
        ctx_.access_log = access_log_.get();
    }
}

Worker::~Worker() {
    join();
    // Parked connections, their timer and poller go before the io_context they belong to.
    ctx_.idle.close_all();
    ctx_.park.reset();
    for (auto& s : slots_) {
        final_infos_.push_back(s->info);
    }
    for (auto& c : ctx_.clusters) {
        c->close_idle();  // pooled sockets go before the io_context they belong to
    }
    for (auto& r : retired_) {
        r.cluster->close_idle();
    }
}

void Worker::route_table() {
    ctx_.route_clusters.clear();
    for (const auto& route : ctx_.snapshot->config->routes) {
        auto it = std::find_if(ctx_.clusters.begin(), ctx_.clusters.end(),
                               [&](const auto& c) { return c->name() == route.cluster; });
        ctx_.route_clusters.push_back(it == ctx_.clusters.end() ? nullptr : it->get());
    }
}

std::error_code Worker::open_listeners(std::vector<ListenerSpec>& specs, std::string& failed,
                                       const std::vector<std::vector<int>>* adopt) {
    std::uint64_t id = 0;
    for (std::size_t i = 0; i < specs.size(); ++i, ++id) {
        auto& spec = specs[i];
        if (adopt != nullptr && i < adopt->size() && !(*adopt)[i].empty()) {
            for (int fd : (*adopt)[i]) {
                auto slot = std::make_shared<ListenerSlot>();
                slot->id = id;
                slot->acceptor = std::make_unique<TcpAcceptor>(io_.get_executor());
                asio::error_code ec;
                slot->acceptor->assign(spec.endpoint.protocol(), fd, ec);
                if (ec) {
                    failed = spec.info.address;
                    return ec;
                }
                spec.info.address = upstream::address_string(spec.endpoint);
                slot->info = std::make_shared<const proxy::ListenerInfo>(spec.info);
                slot->max_connections = spec.max_connections;
                slots_.push_back(std::move(slot));
            }
            continue;
        }
        auto acceptor = std::make_unique<TcpAcceptor>(io_.get_executor());
        if (auto ec = net::open_listener(*acceptor, spec.endpoint, spec.backlog)) {
            failed = spec.info.address;
            return ec;
        }
        if (spec.endpoint.port() == 0) {
            spec.endpoint.port(acceptor->local_endpoint().port());
            spec.info.address = upstream::address_string(spec.endpoint);
        }
        auto slot = std::make_shared<ListenerSlot>();
        slot->id = id;
        slot->acceptor = std::move(acceptor);
        slot->info = std::make_shared<const proxy::ListenerInfo>(spec.info);
        slot->max_connections = spec.max_connections;
        slots_.push_back(std::move(slot));
    }
    return {};
}

void Worker::start() {
    started_ = true;
    for (auto& slot : slots_) {
        asio::co_spawn(io_, accept_loop(slot), asio::detached);
    }
    start_sweeper();
    if (access_log_) {
        access_log_->start();
    }
    thread_ = std::thread([this] {
        log::set_worker_id(ctx_.id);
        try {
            io_.run();
        } catch (const std::exception& e) {
            log::error("worker stopped: {}", e.what());
        }
        if (access_log_) {
            access_log_->stop();
        }
    });
}

Task<void> Worker::accept_loop(std::shared_ptr<ListenerSlot> slot) {
    auto& acceptor = *slot->acceptor;
    SteadyTimer backoff(io_.get_executor());
    std::chrono::steady_clock::time_point last_warning{};
    for (;;) {
        if (slot->max_connections != 0 && ctx_.active_connections >= slot->max_connections) {
            // At the limit: leave new connections in the kernel backlog for a moment.
            backoff.expires_after(10ms);
            co_await backoff.async_wait(use_tuple);
            if (!acceptor.is_open()) {
                co_return;
            }
            continue;
        }
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            if (ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
                // Out of file descriptors: back off instead of spinning on a ready listener,
                // and say so at most once a second.
                auto now = std::chrono::steady_clock::now();
                if (now - last_warning >= 1s) {
                    last_warning = now;
                    log::warn("accept on {}: {}; pausing accepts for {}ms", slot->info->address,
                              ec.message(), limits::kAcceptBackoff.count());
                }
                backoff.expires_after(limits::kAcceptBackoff);
                co_await backoff.async_wait(use_tuple);
            }
            continue;
        }
        // The slot's info may be replaced by a reload; the retired one lives on for the
        // connections that use it.
        proxy::serve(ctx_, std::move(socket), *slot->info);
    }
}

void Worker::start_sweeper() {
    sweeper_.expires_after(1s);
    sweeper_.async_wait([this](const asio::error_code& ec) {
        if (ec || ctx_.draining) {
            return;
        }
        auto now = std::chrono::steady_clock::now();
        for (auto& c : ctx_.clusters) {
            c->sweep(now);
        }
        sweep_retired();
        start_sweeper();
    });
}

void Worker::drain(std::chrono::milliseconds timeout) {
    asio::post(io_, [this, timeout] {
        ctx_.draining = true;
        asio::error_code ignored;
        for (auto& s : slots_) {
            s->acceptor->close(ignored);
        }
        sweeper_.cancel();
        for (auto* c : ctx_.connections) {
            c->drain();
        }
        for (auto& c : ctx_.clusters) {
            c->close_idle();
        }
        for (auto& r : retired_) {
            r.cluster->close_idle();
        }
        finish_when_idle(std::chrono::steady_clock::now() + timeout);
    });
}

void Worker::finish_when_idle(std::chrono::steady_clock::time_point deadline) {
    if (ctx_.active_connections == 0 || std::chrono::steady_clock::now() >= deadline) {
        if (ctx_.active_connections != 0) {
            log::warn("drain timeout: closing {} connection(s) still busy",
                      ctx_.active_connections);
        }
        for (auto& c : ctx_.clusters) {
            c->close_idle();
        }
        for (auto& r : retired_) {
            r.cluster->close_idle();
        }
        if (access_log_) {
            access_log_->stop();
        }
        io_.stop();
        return;
    }
    drain_timer_.expires_after(20ms);
    drain_timer_.async_wait([this, deadline](const asio::error_code& ec) {
        if (!ec) {
            finish_when_idle(deadline);
        }
    });
}

void Worker::reopen_logs() {
    asio::post(io_, [this] {
        if (access_log_) {
            access_log_->reopen();
        }
    });
}

void Worker::update_cluster(std::string name,
                            std::shared_ptr<const upstream::SharedCluster> shared) {
    asio::post(io_, [this, name = std::move(name), shared = std::move(shared)]() mutable {
        replace_cluster(name, std::move(shared));
    });
}

void Worker::replace_cluster(const std::string& name,
                             std::shared_ptr<const upstream::SharedCluster> shared) {
    const auto& cfg = *ctx_.snapshot->config;
    auto cfg_it = cfg.clusters.find(name);
    auto slot = std::find_if(ctx_.clusters.begin(), ctx_.clusters.end(),
                             [&](const auto& c) { return c->name() == name; });
    if (cfg_it == cfg.clusters.end() || slot == ctx_.clusters.end()) {
        return;
    }
    auto next = std::make_unique<upstream::Cluster>(cfg_it->second, *shared,
                                                    static_cast<std::size_t>(ctx_.id));
    next->adopt_idle(**slot);
    for (auto& rc : ctx_.route_clusters) {
        if (rc == slot->get()) {
            rc = next.get();
        }
    }
    owners_[next.get()] = {std::move(shared), ctx_.snapshot->config};
    auto old = std::move(*slot);
    *slot = std::move(next);
    retire_cluster(std::move(old));
    sweep_retired();
}

void Worker::retire_cluster(std::unique_ptr<upstream::Cluster> cluster) {
    // Idle connections to kept addresses were adopted; the rest go to removed (draining) ones.
    cluster->close_idle();
    auto owner = owners_.find(cluster.get());
    RetiredCluster r{std::move(cluster), {}};
    if (owner != owners_.end()) {
        r.owner = std::move(owner->second);
        owners_.erase(owner);
    }
    retired_.push_back(std::move(r));
}

void Worker::sweep_retired() {
    std::erase_if(retired_, [](RetiredCluster& r) {
        r.cluster->close_idle();  // connections released to it after it was retired
        return r.cluster->users() == 0;
    });
    if (retired_snapshots_.empty()) {
        return;
    }
    // A replaced snapshot goes once every connection that may still read it has closed. (A new
    // connection at a recycled address keeps it a little longer: harmless.)
    std::unordered_set<const proxy::ClientConnection*> live(ctx_.connections.begin(),
                                                            ctx_.connections.end());
    std::erase_if(retired_snapshots_, [&](RetiredSnapshot& r) {
        std::erase_if(r.connections,
                      [&](const proxy::ClientConnection* c) { return live.find(c) == live.end(); });
        return r.connections.empty();
    });
}

std::future<void> Worker::apply(WorkerUpdate update) {
    auto shared = std::make_shared<WorkerUpdate>(std::move(update));
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(io_, [this, shared, done] {
        if (!ctx_.draining) {
            apply_now(*shared);
        }
        done->set_value();
    });
    return future;
}

void Worker::apply_now(WorkerUpdate& update) {
    RetiredSnapshot retired;
    retired.snapshot = ctx_.snapshot;
    retired.connections.assign(ctx_.connections.begin(), ctx_.connections.end());
    const auto& cfg = *update.snapshot->config;

    // 1. Clusters: unchanged ones keep their Cluster (pools, balancer, warm connections).
    std::vector<std::unique_ptr<upstream::Cluster>> next;
    for (const auto& [name, cluster_cfg] : cfg.clusters) {
        auto old = std::find_if(ctx_.clusters.begin(), ctx_.clusters.end(),
                                [&](const auto& c) { return c && c->name() == name; });
        if (old != ctx_.clusters.end() && update.rebuilt.count(name) == 0) {
            next.push_back(std::move(*old));
            continue;
        }
        auto shared = update.clusters.at(name);
        auto built = std::make_unique<upstream::Cluster>(cluster_cfg, *shared,
                                                         static_cast<std::size_t>(ctx_.id));
        owners_[built.get()] = {std::move(shared), update.snapshot->config};
        if (old != ctx_.clusters.end()) {
            built->adopt_idle(**old);
            retire_cluster(std::move(*old));
        }
        next.push_back(std::move(built));
    }
    for (auto& c : ctx_.clusters) {
        if (c) {
            retire_cluster(std::move(c));  // removed from the config
        }
    }
    ctx_.clusters = std::move(next);
    ctx_.snapshot = update.snapshot;
    route_table();

    // 2. Listeners: kept sockets keep accepting (with the new info); new ones start; the rest
    //    stop accepting. Their connections finish on the old info, kept with the old snapshot.
    std::vector<std::shared_ptr<ListenerSlot>> slots;
    for (auto& plan : update.listeners) {
        if (!plan.acceptor) {
            // Kept: every socket of this listener (a worker may hold several after an upgrade
            // from a process with more workers).
            for (auto& s : slots_) {
                if (s && s->id == plan.id) {
                    if (s->info != plan.info) {
                        retired.infos.push_back(s->info);
                        s->info = plan.info;
                    }
                    s->max_connections = plan.max_connections;
                    slots.push_back(std::move(s));
                }
            }
            continue;
        }
        auto slot = std::make_shared<ListenerSlot>();
        slot->id = plan.id;
        slot->acceptor = std::move(plan.acceptor);
        slot->info = plan.info;
        slot->max_connections = plan.max_connections;
        if (started_) {
            asio::co_spawn(io_, accept_loop(slot), asio::detached);
        }
        slots.push_back(std::move(slot));
    }
    for (auto& s : slots_) {
        if (s) {
            asio::error_code ignored;
            s->acceptor->close(ignored);  // its accept loop ends
            // Its connections drain: idle ones close now, busy ones after their response.
            for (auto* c : ctx_.connections) {
                if (&c->listener() == s->info.get()) {
                    c->drain();
                }
            }
            retired.infos.push_back(s->info);
        }
    }
    slots_ = std::move(slots);
    if (!retired.connections.empty()) {
        retired_snapshots_.push_back(std::move(retired));
    }
    sweep_retired();
}

std::future<std::vector<std::pair<std::uint64_t, int>>> Worker::listening_fds() {
    auto promise = std::make_shared<std::promise<std::vector<std::pair<std::uint64_t, int>>>>();
    auto future = promise->get_future();
    asio::post(io_, [this, promise] {
        std::vector<std::pair<std::uint64_t, int>> fds;
        for (const auto& s : slots_) {
            if (s->acceptor->is_open()) {
                fds.emplace_back(s->id, s->acceptor->native_handle());
            }
        }
        promise->set_value(std::move(fds));
    });
    return future;
}

std::future<InFlight> Worker::in_flight() {
    auto promise = std::make_shared<std::promise<InFlight>>();
    auto future = promise->get_future();
    asio::post(io_, [this, promise] {
        InFlight counts;
        auto add = [&](upstream::Cluster& c) {
            for (auto& ep : c.endpoints()) {
                if (ep.in_flight != 0 || !ep.idle.empty()) {
                    auto& a = counts[{c.name(), upstream::address_string(ep.address)}];
                    a.requests += ep.in_flight;
                    a.idle += ep.idle.size();
                }
            }
        };
        for (auto& c : ctx_.clusters) {
            add(*c);
        }
        for (auto& r : retired_) {
            add(*r.cluster);
        }
        promise->set_value(std::move(counts));
    });
    return future;
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace usher::server
