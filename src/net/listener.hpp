#pragma once
// Listening sockets. Every worker opens its own socket per configured listener with SO_REUSEPORT,
// so the kernel spreads new connections across workers with no shared accept queue or lock.
#include <string>
#include <system_error>
#include <vector>

#include "config/config.hpp"
#include "core/asio.hpp"

namespace usher::net {

// Resolves a configured address to endpoints at start-up (blocking is fine there). An empty host
// means all IPv4 addresses. Throws std::runtime_error with a readable message on failure.
std::vector<asio::ip::tcp::endpoint> resolve(const config::SocketAddress& address);

// Opens, binds (SO_REUSEADDR + SO_REUSEPORT) and listens. Returns an error instead of throwing.
std::error_code open_listener(TcpAcceptor& acceptor, const asio::ip::tcp::endpoint& endpoint,
                              int backlog);

// A set of CIDR blocks (trusted proxies). Matching allocates nothing.
class CidrSet {
  public:
    // Returns false and sets `error` for an invalid entry ("10.0.0.0/33").
    static bool parse(const std::string& text, CidrSet& into, std::string* error);
    bool contains(const asio::ip::address& addr) const noexcept;
    bool empty() const noexcept { return v4_.empty() && v6_.empty(); }

  private:
    struct V4 {
        std::uint32_t net, mask;
    };
    struct V6 {
        asio::ip::address_v6::bytes_type net;
        unsigned prefix;
    };
    std::vector<V4> v4_;
    std::vector<V6> v6_;
};

}  // namespace usher::net
