#include "net/listener.hpp"

#include <sys/socket.h>

#include <asio/ip/v6_only.hpp>
#include <charconv>
#include <stdexcept>

namespace usher::net {

std::vector<asio::ip::tcp::endpoint> resolve(const config::SocketAddress& address) {
    std::vector<asio::ip::tcp::endpoint> out;
    if (address.host.empty() || address.host == "*") {
        out.emplace_back(asio::ip::address_v4::any(), address.port);
        return out;
    }
    asio::error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    if (!ec) {
        out.emplace_back(ip, address.port);
        return out;
    }
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec) {
        throw std::runtime_error("cannot resolve " + address.to_string() + ": " + ec.message());
    }
    for (const auto& r : results) {
        out.push_back(r.endpoint());
    }
    if (out.empty()) {
        throw std::runtime_error("cannot resolve " + address.to_string() + ": no addresses");
    }
    return out;
}

std::error_code open_listener(TcpAcceptor& acceptor, const asio::ip::tcp::endpoint& endpoint,
                              int backlog) {
    asio::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (ec) {
        return ec;
    }
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        return {errno, std::system_category()};
    }
    if (endpoint.address().is_v6()) {
        acceptor.set_option(asio::ip::v6_only(true), ec);
    }
    acceptor.bind(endpoint, ec);
    if (ec) {
        return ec;
    }
    acceptor.listen(backlog, ec);
    return ec;
}

bool CidrSet::parse(const std::string& text, CidrSet& into, std::string* error) {
    auto slash = text.find('/');
    std::string host = text.substr(0, slash);
    asio::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) {
        if (error) {
            *error = "\"" + text + "\" is not an IP address or CIDR block";
        }
        return false;
    }
    unsigned max = addr.is_v4() ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string::npos) {
        auto digits = std::string_view(text).substr(slash + 1);
        auto r = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || r.ec != std::errc{} || r.ptr != digits.data() + digits.size() ||
            prefix > max) {
            if (error) {
                *error = "\"" + text + "\": prefix length must be 0-" + std::to_string(max);
            }
            return false;
        }
    }
    if (addr.is_v4()) {
        std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
        into.v4_.push_back({addr.to_v4().to_uint() & mask, mask});
    } else {
        into.v6_.push_back({addr.to_v6().to_bytes(), prefix});
    }
    return true;
}

bool CidrSet::contains(const asio::ip::address& addr) const noexcept {
    if (addr.is_v4() || (addr.is_v6() && addr.to_v6().is_v4_mapped())) {
        std::uint32_t a =
            addr.is_v4() ? addr.to_v4().to_uint()
                         : asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_uint();
        for (const auto& n : v4_) {
            if ((a & n.mask) == n.net) {
                return true;
            }
        }
        return false;
    }
    auto bytes = addr.to_v6().to_bytes();
    for (const auto& n : v6_) {
        unsigned bits = n.prefix;
        bool match = true;
        for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
            unsigned take = bits >= 8 ? 8 : bits;
            auto mask = static_cast<unsigned char>(0xFFu << (8 - take));
            if ((bytes[i] & mask) != (n.net[i] & mask)) {
                match = false;
                break;
            }
            bits -= take;
        }
        if (match) {
            return true;
        }
    }
    return false;
}

}  // namespace usher::net
