#include "upstream/cluster.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "upstream/balancers.hpp"
#include "upstream/sticky_cookie.hpp"

namespace usher::upstream {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::int64_t to_ns(config::Duration d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Takes one unit of `counter` if it is below `limit` (0 = unlimited: nothing counted).
bool take(std::atomic<std::int64_t>& counter, std::uint64_t limit) {
    if (limit == 0) {
        return true;
    }
    if (counter.fetch_add(1, kRelaxed) >= static_cast<std::int64_t>(limit)) {
        counter.fetch_sub(1, kRelaxed);
        return false;
    }
    return true;
}
void give(std::atomic<std::int64_t>& counter, std::uint64_t limit) {
    if (limit != 0) {
        counter.fetch_sub(1, kRelaxed);
    }
}

}  // namespace

const char* circuit_cause(CircuitLimit limit) noexcept {
    switch (limit) {
        case CircuitLimit::none:
            return "";
        case CircuitLimit::connections:
            return "circuit_open_connections";
        case CircuitLimit::pending:
            return "circuit_open_pending";
        case CircuitLimit::requests:
            return "circuit_open_requests";
        case CircuitLimit::retries:
            return "circuit_open_retries";
    }
    return "";
}

Connection::~Connection() {
    if (counted != nullptr) {
        counted->connections.fetch_sub(1, kRelaxed);
    }
}

Cluster::Cluster(const config::Cluster& cfg, const SharedCluster& shared, std::size_t worker)
    : name_(cfg.name),
      config_(&cfg),
      pool_(cfg.pool),
      endpoints_(make_endpoints(shared.endpoints)),
      balancer_kind_(cfg.balancer),
      balancer_options_(cfg.balancer_options),
      random_(hash_bytes(
          cfg.name,
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              reinterpret_cast<std::uintptr_t>(this))),
      balancer_(make_balancer(cfg, endpoints_)),
      circuit_(shared.circuit),
      tls_(shared.tls),
      worker_(worker),
      slow_start_ns_(to_ns(cfg.slow_start)) {}

std::vector<Endpoint> Cluster::make_endpoints(const std::vector<SharedEndpoint>& shared) {
    std::vector<Endpoint> out;
    out.reserve(shared.size());
    for (const auto& s : shared) {
        Endpoint ep;
        ep.label = s.label;
        ep.address = s.address;
        ep.weight = s.weight;
        ep.index = out.size();
        ep.id = sticky_id(s.label);
        ep.health = s.health.get();
        out.push_back(std::move(ep));
    }
    return out;
}

Endpoint* Cluster::pick(PickContext ctx, const TriedSet& tried, bool* panic_refused) {
    if (ctx.random == nullptr) {
        ctx.random = &random_;
    }
    Endpoint* ep = balancer_->pick(ctx, tried);
    if (ep == nullptr) {
        return nullptr;
    }
    if (!ep->healthy()) {
        // Only chosen in panic (no untried endpoint is healthy).
        if (config_->panic == config::PanicMode::fail) {
            if (panic_refused != nullptr) {
                *panic_refused = true;
            }
            return nullptr;
        }
        return ep;
    }
    if (slow_start_ns_ > 0 && !balancer_->needs_hash()) {
        // Slow start: accept an endpoint that became usable `age` ago with probability
        // 0.1 + 0.9 × age / window; otherwise let the balancer choose once more without it.
        const auto since = ep->health->ready_since_ns.load(kRelaxed);
        if (since != 0) {
            const auto age = steady_now_ns() - since;
            if (age < slow_start_ns_) {
                const double share = 0.1 + 0.9 *
                                               static_cast<double>(std::max<std::int64_t>(age, 0)) /
                                               static_cast<double>(slow_start_ns_);
                if (static_cast<double>(ctx.random->below(1'000'000)) >= share * 1'000'000.0) {
                    TriedSet others = tried;
                    others.add(ep->index);
                    if (Endpoint* other = balancer_->pick(ctx, others);
                        other != nullptr && other->healthy()) {
                        return other;
                    }
                }
            }
        }
    }
    return ep;
}

bool Cluster::report(Endpoint& ep, AttemptResult result) {
    auto& c = counters(ep);
    auto& h = *ep.health;
    EndpointCounters::bump(c.requests);
    bool failure = true;
    switch (result) {
        case AttemptResult::success:
            failure = false;
            break;
        case AttemptResult::connect_failure:
            EndpointCounters::bump(c.connect_failures);
            break;
        case AttemptResult::reset:
            EndpointCounters::bump(c.resets);
            break;
        case AttemptResult::timeout:
            EndpointCounters::bump(c.timeouts);
            break;
        case AttemptResult::status_5xx:
            EndpointCounters::bump(c.responses_5xx);
            failure = config_->outlier_detection && config_->outlier_detection->count_5xx;
            if (!failure) {
                return false;  // neither a failure nor a success for passive health
            }
            break;
    }
    if (!config_->outlier_detection) {
        return false;
    }
    if (!failure) {
        // A shared line is only written when there is something to reset.
        if (h.consecutive_failures.load(kRelaxed) != 0) {
            h.consecutive_failures.store(0, kRelaxed);
        }
        return false;
    }
    const auto n = h.consecutive_failures.fetch_add(1, kRelaxed) + 1;
    if (n < config_->outlier_detection->consecutive_failures) {
        return false;
    }
    return try_eject(ep, steady_now_ns());
}

bool Cluster::try_eject(Endpoint& ep, std::int64_t now) {
    const auto& od = *config_->outlier_detection;
    auto& h = *ep.health;
    auto until = h.ejected_until_ns.load(kRelaxed);
    if (until != 0 && now < until) {
        return false;  // already ejected (by another worker)
    }
    // At most max_ejected_percent of the cluster, but one endpoint may always go.
    std::size_t ejected = 0;
    for (const auto& other : endpoints_) {
        ejected += other.health->is_ejected(now) ? 1U : 0U;
    }
    const std::size_t cap = endpoints_.size() * od.max_ejected_percent / 100;
    if (ejected > 0 && ejected >= cap) {
        return false;
    }
    // Backoff: the n-th ejection in a row lasts base × 2^(n-1), capped; the exponent resets once
    // the endpoint stayed in for max_ejection_time.
    const auto max_ns = to_ns(od.max_ejection_time);
    std::uint32_t level = h.ejection_level.load(kRelaxed);
    const auto last = h.last_ejection_ns.load(kRelaxed);
    if (last != 0 && now - last > max_ns) {
        level = 0;
    }
    const auto base_ns = to_ns(od.base_ejection_time);
    const auto duration =
        std::min<std::int64_t>(max_ns, base_ns << std::min<std::uint32_t>(level, 20));
    const auto new_until = now + duration;
    if (!h.ejected_until_ns.compare_exchange_strong(until, new_until, kRelaxed)) {
        return false;  // another worker ejected it first
    }
    h.ejection_level.store(level + 1, kRelaxed);
    h.last_ejection_ns.store(new_until, kRelaxed);
    h.ready_since_ns.store(new_until, kRelaxed);  // slow start begins when the ejection ends
    h.consecutive_failures.store(0, kRelaxed);
    h.ejections_total.fetch_add(1, kRelaxed);
    EndpointCounters::bump(counters(ep).ejections);
    log::warn("outlier: cluster {} endpoint {} ejected for {}ms after {} consecutive failures",
              name_, ep.label, duration / 1'000'000, od.consecutive_failures);
    return true;
}

CircuitLimit Cluster::begin_request() {
    if (!take(circuit_->requests, config_->circuit_breaker.max_requests)) {
        circuit_->trips.fetch_add(1, kRelaxed);
        return CircuitLimit::requests;
    }
    ++active_requests_;
    return CircuitLimit::none;
}

void Cluster::end_request() {
    give(circuit_->requests, config_->circuit_breaker.max_requests);
    --active_requests_;
}

CircuitLimit Cluster::begin_retry() {
    const auto& budget = config_->retry_budget;
    const std::uint64_t allowed =
        std::max<std::uint64_t>(budget.min_retries, active_requests_ * budget.percent / 100);
    if (active_retries_ >= allowed) {
        return CircuitLimit::retries;
    }
    if (!take(circuit_->retries, config_->circuit_breaker.max_retries)) {
        circuit_->trips.fetch_add(1, kRelaxed);
        return CircuitLimit::retries;
    }
    ++active_retries_;
    return CircuitLimit::none;
}

void Cluster::end_retry() {
    give(circuit_->retries, config_->circuit_breaker.max_retries);
    --active_retries_;
}

CircuitLimit Cluster::begin_connect() {
    const auto& cb = config_->circuit_breaker;
    if (cb.max_connections != 0 &&
        circuit_->connections.load(kRelaxed) >= static_cast<std::int64_t>(cb.max_connections)) {
        circuit_->trips.fetch_add(1, kRelaxed);
        return CircuitLimit::connections;
    }
    if (!take(circuit_->pending, cb.max_pending)) {
        circuit_->trips.fetch_add(1, kRelaxed);
        return CircuitLimit::pending;
    }
    return CircuitLimit::none;
}

void Cluster::end_connect() {
    give(circuit_->pending, config_->circuit_breaker.max_pending);
}

void Cluster::count_connection(Connection& conn) {
    if (config_->circuit_breaker.max_connections != 0 && conn.counted == nullptr) {
        circuit_->connections.fetch_add(1, kRelaxed);
        conn.counted = circuit_.get();
    }
}

std::unique_ptr<Connection> Cluster::take_idle(Endpoint& ep,
                                               std::chrono::milliseconds max_idle_age) {
    auto now = std::chrono::steady_clock::now();
    while (!ep.idle.empty()) {
        if (max_idle_age.count() > 0 && now - ep.idle.back()->idle_since >= max_idle_age) {
            return nullptr;  // the newest is too old, so are the others: leave them pooled
        }
        auto conn = std::move(ep.idle.back());
        ep.idle.pop_back();
        if (pool_.idle_timeout.count() == 0 || now - conn->idle_since < pool_.idle_timeout) {
            return conn;
        }
    }
    return nullptr;
}

void Cluster::put_idle(std::unique_ptr<Connection> conn) {
    auto& ep = *conn->endpoint;
    if (ep.idle.size() >= pool_.max_idle || ep.draining() ||
        (pool_.max_requests != 0 && conn->requests >= pool_.max_requests)) {
        return;  // closed by the destructor
    }
    conn->idle_since = std::chrono::steady_clock::now();
    ep.idle.push_back(std::move(conn));
}

void Cluster::sweep(std::chrono::steady_clock::time_point now) {
    const auto now_ns = steady_ns(now);
    for (auto& ep : endpoints_) {
        if (ep.draining()) {
            ep.idle.clear();
        } else if (pool_.idle_timeout.count() != 0) {
            std::erase_if(ep.idle, [&](const std::unique_ptr<Connection>& c) {
                return now - c->idle_since >= pool_.idle_timeout;
            });
        }
        // An expired ejection: clear it so healthy() stops reading the clock.
        auto until = ep.health->ejected_until_ns.load(kRelaxed);
        if (until != 0 && now_ns >= until) {
            ep.health->ejected_until_ns.compare_exchange_strong(until, 0, kRelaxed);
        }
    }
}

void Cluster::close_idle() {
    for (auto& ep : endpoints_) {
        ep.idle.clear();
    }
}

void Cluster::adopt_idle(Cluster& old) {
    for (auto& from : old.endpoints_) {
        auto to = std::find_if(endpoints_.begin(), endpoints_.end(),
                               [&](const Endpoint& e) { return e.address == from.address; });
        if (to == endpoints_.end() || to->draining()) {
            continue;
        }
        for (auto& conn : from.idle) {
            conn->endpoint = &*to;
            to->idle.push_back(std::move(conn));
        }
        from.idle.clear();
    }
}

}  // namespace usher::upstream
