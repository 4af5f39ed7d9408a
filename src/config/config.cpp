#include "config/config.hpp"

namespace usher::config {

std::string SocketAddress::to_string() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    std::string out = ipv6 ? "[" + host + "]" : host;
    out += ':';
    out += std::to_string(port);
    return out;
}

Timeouts TimeoutOverrides::apply(const Timeouts& base) const {
    Timeouts t = base;
    t.connect = connect.value_or(base.connect);
    t.request_header = request_header.value_or(base.request_header);
    t.client_idle = client_idle.value_or(base.client_idle);
    t.upstream_header = upstream_header.value_or(base.upstream_header);
    t.upstream_idle = upstream_idle.value_or(base.upstream_idle);
    t.total = total.value_or(base.total);
    return t;
}

std::string Hsts::header_value() const {
    std::string out = "max-age=" + std::to_string(max_age.count());
    if (include_subdomains) {
        out += "; includeSubDomains";
    }
    if (preload) {
        out += "; preload";
    }
    return out;
}

const char* balancer_name(BalancerKind kind) noexcept {
    switch (kind) {
        case BalancerKind::round_robin:
            return "round_robin";
        case BalancerKind::least_request:
            return "least_request";
        case BalancerKind::random:
            return "random";
        case BalancerKind::ring_hash:
            return "ring_hash";
        case BalancerKind::maglev:
            return "maglev";
        case BalancerKind::cookie:
            return "cookie";
        case BalancerKind::peak_ewma:
            return "peak_ewma";
    }
    return "round_robin";
}

}  // namespace usher::config
