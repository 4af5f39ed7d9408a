#include "upstream/health.hpp"

namespace usher::upstream {

const char* endpoint_state_name(EndpointState s) noexcept {
    switch (s) {
        case EndpointState::draining:
            return "draining";
        case EndpointState::unhealthy:
            return "unhealthy";
        case EndpointState::ejected:
            return "ejected";
        case EndpointState::slow_start:
            return "slow_start";
        case EndpointState::healthy:
            return "healthy";
    }
    return "healthy";
}

EndpointTotals EndpointHealth::totals() const noexcept {
    EndpointTotals t;
    constexpr auto r = std::memory_order_relaxed;
    for (std::size_t i = 0; i < worker_count; ++i) {
        const auto& c = counters[i];
        t.requests += c.requests.load(r);
        t.connect_failures += c.connect_failures.load(r);
        t.resets += c.resets.load(r);
        t.timeouts += c.timeouts.load(r);
        t.responses_5xx += c.responses_5xx.load(r);
        t.retries += c.retries.load(r);
        t.ejections += c.ejections.load(r);
    }
    return t;
}

EndpointState EndpointHealth::state(std::chrono::milliseconds slow_start) const noexcept {
    const auto now = steady_now_ns();
    if (is_draining()) {
        return EndpointState::draining;
    }
    if (!healthy.load(std::memory_order_relaxed)) {
        return EndpointState::unhealthy;
    }
    if (is_ejected(now)) {
        return EndpointState::ejected;
    }
    const auto since = ready_since_ns.load(std::memory_order_relaxed);
    if (slow_start.count() > 0 && since != 0 &&
        now - since < std::chrono::duration_cast<std::chrono::nanoseconds>(slow_start).count()) {
        return EndpointState::slow_start;
    }
    return EndpointState::healthy;
}

void EndpointHealth::set_draining(bool on) noexcept {
    const bool was = draining.exchange(on, std::memory_order_relaxed);
    if (was && !on) {
        mark_ready();
    }
}

}  // namespace usher::upstream
