#include "upstream/dns_refresher.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace usher::upstream {

EndpointDiff diff_endpoints(const std::vector<SharedEndpoint>& old,
                            const std::vector<DesiredEndpoint>& desired, std::size_t workers) {
    EndpointDiff diff;
    std::vector<bool> kept(old.size(), false);
    std::vector<const DesiredEndpoint*> fresh;
    std::vector<std::uint32_t> kept_weight(old.size(), 0);
    for (const auto& d : desired) {
        bool matched = false;
        for (std::size_t i = 0; i < old.size(); ++i) {
            if (!kept[i] && old[i].label == d.label && old[i].address == d.address) {
                kept[i] = true;
                kept_weight[i] = d.weight;
                matched = true;
                break;
            }
        }
        if (!matched) {
            fresh.push_back(&d);
        }
    }
    for (std::size_t i = 0; i < old.size(); ++i) {
        if (kept[i]) {
            diff.endpoints.push_back(old[i]);
            diff.endpoints.back().weight = kept_weight[i];
        } else {
            diff.removed.push_back(old[i]);
        }
    }
    for (const auto* d : fresh) {
        SharedEndpoint se;
        se.label = d->label;
        se.address = d->address;
        se.weight = d->weight;
        se.health = std::make_shared<EndpointHealth>(workers);
        se.health->draining.store(d->drain, std::memory_order_relaxed);
        se.health->mark_ready();
        diff.added.push_back(se);
        diff.endpoints.push_back(std::move(se));
    }
    return diff;
}

bool is_ip_literal(const std::string& host) {
    asio::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

std::string address_string(const asio::ip::tcp::endpoint& address) {
    const auto ip = address.address().to_string();
    const auto port = std::to_string(address.port());
    return address.address().is_v6() ? "[" + ip + "]:" + port : ip + ":" + port;
}

Task<Resolution> system_resolve(const config::SocketAddress& address) {
    asio::ip::basic_resolver<asio::ip::tcp, Executor> resolver(co_await asio::this_coro::executor);
    auto [ec, results] =
        co_await resolver.async_resolve(address.host, std::to_string(address.port), use_tuple);
    Resolution out;
    out.error = ec;
    if (!ec) {
        for (const auto& r : results) {
            out.addresses.push_back(r.endpoint());
        }
    }
    co_return out;
}

DnsRefresher::DnsRefresher(PublishFunction publish, std::size_t workers, ResolveFunction resolve)
    : publish_(std::move(publish)), workers_(workers), resolve_(std::move(resolve)) {}

void DnsRefresher::add_cluster(const config::Cluster& cfg, const SharedCluster& current) {
    const bool any_hostname =
        std::any_of(cfg.endpoints.begin(), cfg.endpoints.end(), [](const config::Endpoint& ep) {
            return !ep.address.host.empty() && !is_ip_literal(ep.address.host);
        });
    if (!any_hostname) {
        return;
    }
    Watched w;
    w.cfg = &cfg;
    w.current = std::make_shared<const SharedCluster>(current);
    w.failing.assign(cfg.endpoints.size(), false);
    clusters_[cfg.name] = std::move(w);
}

std::shared_ptr<const SharedCluster> DnsRefresher::current(const std::string& name) const {
    auto it = clusters_.find(name);
    return it == clusters_.end() ? nullptr : it->second.current;
}

Task<void> DnsRefresher::run() {
    auto ex = co_await asio::this_coro::executor;
    for (const auto& [name, w] : clusters_) {
        asio::co_spawn(ex, loop(name), asio::detached);
    }
}

Task<void> DnsRefresher::loop(std::string name) {
    SteadyTimer timer(co_await asio::this_coro::executor);
    const auto interval = clusters_.at(name).cfg->resolve_interval;
    for (;;) {
        timer.expires_after(interval);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec) {
            co_return;
        }
        co_await refresh(name);
    }
}

Task<bool> DnsRefresher::refresh(const std::string& name) {
    auto& w = clusters_.at(name);
    const auto& cfg = *w.cfg;
    const auto before = w.current;  // the endpoints this refresh compares against
    std::vector<DesiredEndpoint> desired;
    for (std::size_t i = 0; i < cfg.endpoints.size(); ++i) {
        const auto& ep = cfg.endpoints[i];
        const auto label = ep.address.to_string();
        auto want = [&](const asio::ip::tcp::endpoint& addr) {
            desired.push_back({label, addr, ep.weight, ep.drain});
        };
        // What this endpoint has now (kept as is for IP literals and failed resolutions).
        auto keep_current = [&] {
            for (const auto& se : before->endpoints) {
                if (se.label == label) {
                    want(se.address);
                }
            }
        };
        if (ep.address.host.empty() || is_ip_literal(ep.address.host)) {
            keep_current();
            continue;
        }
        auto res = co_await resolve_(ep.address);
        if (res.error || res.addresses.empty()) {
            if (!w.failing[i]) {
                w.failing[i] = true;
                log::warn("dns: cluster {}: cannot resolve {}: {}; keeping its addresses", cfg.name,
                          label, res.error ? res.error.message() : std::string("no addresses"));
            }
            keep_current();
            continue;
        }
        if (w.failing[i]) {
            w.failing[i] = false;
            log::info("dns: cluster {}: {} resolves again", cfg.name, label);
        }
        std::vector<asio::ip::tcp::endpoint> seen;
        for (const auto& addr : res.addresses) {
            if (std::find(seen.begin(), seen.end(), addr) == seen.end()) {
                seen.push_back(addr);
                want(addr);
            }
        }
    }
    auto diff = diff_endpoints(before->endpoints, desired, workers_);
    if (!diff.changed()) {
        log::debug("dns: cluster {}: {} address(es), unchanged", cfg.name, diff.endpoints.size());
        co_return false;
    }
    for (const auto& se : diff.removed) {
        se.health->set_draining(true);
    }
    auto next = std::make_shared<SharedCluster>();
    next->endpoints = diff.endpoints;
    next->circuit = before->circuit;
    next->tls = before->tls;
    w.current = next;
    // One line per changed hostname: "dns: cluster api: localhost:8080 now 127.0.0.1:8080,
    // [::1]:8080 (added 1, removed 0)".
    for (const auto& ep : cfg.endpoints) {
        const auto label = ep.address.to_string();
        auto count = [&](const std::vector<SharedEndpoint>& v) {
            return std::count_if(v.begin(), v.end(),
                                 [&](const SharedEndpoint& s) { return s.label == label; });
        };
        const auto added = count(diff.added);
        const auto removed = count(diff.removed);
        if (added == 0 && removed == 0) {
            continue;
        }
        std::string now;
        for (const auto& se : next->endpoints) {
            if (se.label == label) {
                now += (now.empty() ? "" : ", ") + address_string(se.address);
            }
        }
        log::info("dns: cluster {}: {} now {} (added {}, removed {})", cfg.name, label, now, added,
                  removed);
    }
    publish_(name, next);
    co_return true;
}

}  // namespace usher::upstream
