#include "server/worker.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "proxy/client_connection.hpp"

namespace usher::server {

using namespace std::chrono_literals;

Worker::Worker(int id, proxy::SnapshotPtr snapshot)
    : ctx_(id), io_(1), sweeper_(io_.get_executor()), drain_timer_(io_.get_executor()) {
    ctx_.io = &io_;
    ctx_.snapshot = std::move(snapshot);
    const auto& cfg = *ctx_.snapshot->config;
    // This worker's runtime clusters and the route -> cluster table.
    std::map<std::string, upstream::Cluster*> by_name;
    for (const auto& [name, cluster_cfg] : cfg.clusters) {
        auto it = ctx_.snapshot->clusters.find(name);
        ctx_.clusters.push_back(std::make_unique<upstream::Cluster>(cluster_cfg, it->second,
                                                                    static_cast<std::size_t>(id)));
        by_name[name] = ctx_.clusters.back().get();
    }
    for (const auto& route : cfg.routes) {
        auto it = by_name.find(route.cluster);
        ctx_.route_clusters.push_back(it == by_name.end() ? nullptr : it->second);
    }
    if (cfg.access_log.enabled()) {
        access_log_ = std::make_unique<proxy::AccessLog>(cfg.access_log, io_);
        ctx_.access_log = access_log_.get();
    }
}

Worker::~Worker() {
    join();
    for (auto& c : ctx_.clusters) {
        c->close_idle();  // pooled sockets go before the io_context they belong to
    }
    for (auto& r : retired_) {
        r.cluster->close_idle();
    }
}

std::error_code Worker::open_listeners(std::vector<ListenerSpec>& specs, std::string& failed) {
    for (auto& spec : specs) {
        auto acceptor = std::make_unique<TcpAcceptor>(io_.get_executor());
        if (auto ec = net::open_listener(*acceptor, spec.endpoint, spec.backlog)) {
            failed = spec.info.address;
            return ec;
        }
        if (spec.endpoint.port() == 0) {
            spec.endpoint.port(acceptor->local_endpoint().port());
            spec.info.address =
                spec.endpoint.address().to_string() + ":" + std::to_string(spec.endpoint.port());
        }
        acceptors_.push_back(std::move(acceptor));
    }
    specs_ = specs;
    return {};
}

void Worker::start() {
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        asio::co_spawn(io_, accept_loop(i), asio::detached);
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

Task<void> Worker::accept_loop(std::size_t index) {
    auto& acceptor = *acceptors_[index];
    const auto& spec = specs_[index];
    SteadyTimer backoff(io_.get_executor());
    std::chrono::steady_clock::time_point last_warning{};
    for (;;) {
        if (spec.max_connections != 0 && ctx_.active_connections >= spec.max_connections) {
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
                    log::warn("accept on {}: {}; pausing accepts for {}ms", spec.info.address,
                              ec.message(), limits::kAcceptBackoff.count());
                }
                backoff.expires_after(limits::kAcceptBackoff);
                co_await backoff.async_wait(use_tuple);
            }
            continue;
        }
        proxy::serve(ctx_, std::move(socket), specs_[index].info);
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
        for (auto& a : acceptors_) {
            a->close(ignored);
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
    RetiredCluster old{std::move(*slot), nullptr};
    *slot = std::move(next);
    // The old cluster's endpoints: the previous DNS update's, or the snapshot's (owned there).
    if (auto prev = replaced_.find(name); prev != replaced_.end()) {
        old.shared = std::move(prev->second);
    }
    replaced_[name] = std::move(shared);
    // Idle connections to kept addresses were adopted; the rest go to removed (draining) ones.
    old.cluster->close_idle();
    retired_.push_back(std::move(old));
    sweep_retired();
}

void Worker::sweep_retired() {
    std::erase_if(retired_, [](RetiredCluster& r) {
        r.cluster->close_idle();  // connections released to it after it was retired
        return r.cluster->users() == 0;
    });
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace usher::server
