#include "upstream/peak_ewma.hpp"

#include <algorithm>
#include <cmath>

namespace usher::upstream {
namespace {

// An endpoint never measured (or decayed to nothing) still costs its in-flight requests.
constexpr double kFloorNs = 1000;

}  // namespace

double PeakEwma::decayed(const Endpoint& ep,
                         std::chrono::steady_clock::time_point now) const noexcept {
    const auto dt = static_cast<double>((now - ep.latency_stamp).count());
    return dt <= 0 ? ep.latency_ewma_ns : ep.latency_ewma_ns * std::exp(-dt / decay_ns_);
}

double PeakEwma::cost(const Endpoint& ep,
                      std::chrono::steady_clock::time_point now) const noexcept {
    return (decayed(ep, now) + kFloorNs) * (static_cast<double>(ep.in_flight) + 1) /
           static_cast<double>(ep.weight);
}

Endpoint* PeakEwma::pick(const PickContext& ctx, const TriedSet& tried) {
    const Eligibility eligible(endpoints_, tried);
    Endpoint* a = draw_.draw(endpoints_, eligible, *ctx.random);
    Endpoint* b = draw_.draw(endpoints_, eligible, *ctx.random);
    if (a == nullptr || b == nullptr || a == b) {
        return a;
    }
    const auto now = std::chrono::steady_clock::now();
    return cost(*b, now) < cost(*a, now) ? b : a;
}

void PeakEwma::on_request_end(Endpoint& ep, std::chrono::nanoseconds latency,
                              bool success) noexcept {
    LoadBalancer::on_request_end(ep, latency, success);
    const auto now = std::chrono::steady_clock::now();
    // Failures count with their latency too (a quick refusal is retried elsewhere anyway).
    const auto rtt = static_cast<double>(latency.count());
    if (rtt > ep.latency_ewma_ns) {
        ep.latency_ewma_ns = rtt;  // peak: a slow response counts at once
    } else {
        const auto dt = static_cast<double>((now - ep.latency_stamp).count());
        const double w = std::exp(-std::max(dt, 0.0) / decay_ns_);
        ep.latency_ewma_ns = ep.latency_ewma_ns * w + rtt * (1 - w);
    }
    ep.latency_stamp = now;
}

}  // namespace usher::upstream
