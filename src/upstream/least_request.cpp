#include "upstream/least_request.hpp"

namespace usher::upstream {
namespace {

constexpr std::size_t kExactUpTo = 3;

// a is less loaded than b: in_flight(a)/weight(a) < in_flight(b)/weight(b), without division.
bool less_loaded(const Endpoint& a, const Endpoint& b) noexcept {
    return std::uint64_t{a.in_flight} * b.weight < std::uint64_t{b.in_flight} * a.weight;
}

}  // namespace

Endpoint* LeastRequest::pick(const PickContext& ctx, const TriedSet& tried) {
    const Eligibility eligible(endpoints_, tried);
    if (endpoints_.size() > kExactUpTo) {
        Endpoint* a = draw_.draw(endpoints_, eligible, *ctx.random);
        Endpoint* b = draw_.draw(endpoints_, eligible, *ctx.random);
        if (a == nullptr || b == nullptr) {
            return a;
        }
        return less_loaded(*b, *a) ? b : a;
    }
    // Exact: the least loaded, ties broken by weight at random.
    Endpoint* best = nullptr;
    std::uint64_t tie_weight = 0;
    for (auto& ep : endpoints_) {
        if (!eligible(ep)) {
            continue;
        }
        if (best == nullptr || less_loaded(ep, *best)) {
            best = &ep;
            tie_weight = ep.weight;
        } else if (!less_loaded(*best, ep)) {  // equal load: reservoir-sample by weight
            tie_weight += ep.weight;
            if (ctx.random->below(tie_weight) < ep.weight) {
                best = &ep;
            }
        }
    }
    return best;
}

}  // namespace usher::upstream
