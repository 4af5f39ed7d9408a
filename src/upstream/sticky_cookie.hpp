#pragma once
// `cookie`: sticky sessions. The proxy hashes the value of the session cookie into ctx.hash
// (has_hash false when the request has none). A value naming an eligible endpoint's id (see
// Endpoint::id) goes to that endpoint; any other value, or one naming a tried or unhealthy
// endpoint, goes to a consistent place on a hash ring, so a dead endpoint's sessions spread over
// the others and all workers agree where. Without a cookie, round robin picks, and the proxy sets
// the cookie (Set-Cookie: <name>=<id>) whenever the endpoint picked is not the one it named.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "upstream/ring_hash.hpp"
#include "upstream/round_robin.hpp"

namespace usher::upstream {

// An endpoint's id as the cookie carries it: 16 hex digits of hash_bytes(label).
std::string sticky_id(std::string_view label);

class StickyCookie final : public LoadBalancer {
  public:
    explicit StickyCookie(std::vector<Endpoint>& endpoints);

    Endpoint* pick(const PickContext& ctx, const TriedSet& tried) override;
    bool needs_hash() const noexcept override { return true; }

  private:
    std::vector<Endpoint>& endpoints_;
    RoundRobin round_robin_;
    HashRing ring_;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ids_;  // hash_bytes(id) -> index, sorted
};

}  // namespace usher::upstream
