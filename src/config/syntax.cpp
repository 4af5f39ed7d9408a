#include "config/syntax.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace usher::config {
namespace {

bool fail(std::string* error, std::string message) {
    if (error != nullptr) {
        *error = std::move(message);
    }
    return false;
}

// Built by appending: GCC 12 reports a false -Wrestrict for `"literal" + std::string` at -O3.
std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

bool is_alnum(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_ipv4(std::string_view s) {
    in_addr a{};
    return inet_pton(AF_INET, std::string(s).c_str(), &a) == 1;
}

bool is_ipv6(std::string_view s) {
    in6_addr a{};
    return inet_pton(AF_INET6, std::string(s).c_str(), &a) == 1;
}

bool looks_numeric(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c) || c == '.'; });
}

bool is_dns_name(std::string_view s) {
    if (s.empty() || s.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (char c : s) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (is_alnum(c) || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label != 0 || s.size() > 1;  // "example.com." (trailing dot) is fine, "." is not
}

bool check_host(std::string_view host, std::string* error) {
    if (looks_numeric(host)) {
        return is_ipv4(host) || fail(error, "invalid IPv4 address " + quoted(host));
    }
    return is_dns_name(host) || fail(error, "invalid host " + quoted(host));
}

// Port 0 is allowed for listeners only (the kernel picks a free port; tests rely on it).
std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero, std::string* error) {
    if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) {
        fail(error, s.empty() ? std::string("missing port") : "invalid port " + quoted(s));
        return std::nullopt;
    }
    std::uint64_t port = 0;
    for (char c : s) {
        port = std::min<std::uint64_t>(port * 10 + static_cast<std::uint64_t>(c - '0'), 1'000'000);
    }
    if ((port == 0 && !allow_zero) || port > 65535) {
        fail(error, "port " + std::string(s) + " is out of range (" + (allow_zero ? "0" : "1") +
                        "-65535)");
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(port);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

std::optional<SocketAddress> parse_socket_address(std::string_view text, bool for_listener,
                                                  std::string* error) {
    const std::string example = for_listener ? "host:port or :port" : "host:port";
    if (text.empty()) {
        fail(error, "empty address (expected " + example + ")");
        return std::nullopt;
    }
    SocketAddress out;
    std::string_view port_text;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || !is_ipv6(text.substr(1, close - 1))) {
            fail(error, "invalid IPv6 address in " + quoted(text));
            return std::nullopt;
        }
        out.host = std::string(text.substr(1, close - 1));
        const std::string_view rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            fail(error, "missing port in " + quoted(text) + " (expected [address]:port)");
            return std::nullopt;
        }
        port_text = rest.substr(1);
    } else {
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) {
            fail(error, "missing port in " + quoted(text) + " (expected " + example + ")");
            return std::nullopt;
        }
        if (text.find(':', colon + 1) != std::string_view::npos) {
            fail(error, "IPv6 addresses need brackets, e.g. \"[::1]:8080\"");
            return std::nullopt;
        }
        const std::string_view host = text.substr(0, colon);
        if (host.empty()) {
            if (!for_listener) {
                fail(error, "missing host in " + quoted(text) + " (expected host:port)");
                return std::nullopt;
            }
            out.host = "0.0.0.0";
        } else if (!check_host(host, error)) {
            return std::nullopt;
        } else {
            out.host = std::string(host);
        }
        port_text = text.substr(colon + 1);
    }
    const auto port = parse_port(port_text, for_listener, error);
    if (!port) {
        if (port_text.empty()) {
            fail(error, "missing port in " + quoted(text) + " (expected " + example + ")");
        }
        return std::nullopt;
    }
    out.port = *port;
    return out;
}

std::optional<SocketAddress> parse_endpoint_address(std::string_view text, std::string* error,
                                                    EndpointScheme* scheme_out) {
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        if (scheme_out != nullptr) {
            *scheme_out = EndpointScheme::none;
        }
        return parse_socket_address(text, false, error);
    }
    const std::string scheme = lower(text.substr(0, scheme_end));
    if (scheme != "http" && scheme != "https") {
        fail(error,
             "unsupported scheme " + quoted(scheme) + " (use http://, https:// or host:port)");
        return std::nullopt;
    }
    const bool tls = scheme == "https";
    if (scheme_out != nullptr) {
        *scheme_out = tls ? EndpointScheme::https : EndpointScheme::http;
    }
    std::string_view rest = text.substr(scheme_end + 3);
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    if (rest.find_first_of("/?#") != std::string_view::npos) {
        fail(error, "endpoint " + quoted(text) + " must not have a path");
        return std::nullopt;
    }
    const bool has_port = rest.empty() || rest.front() != '['
                              ? rest.find(':') != std::string_view::npos
                              : rest.find("]:") != std::string_view::npos;
    if (!has_port) {
        return parse_socket_address(std::string(rest) + (tls ? ":443" : ":80"), false, error);
    }
    return parse_socket_address(rest, false, error);
}

std::optional<std::string> normalize_cidr(std::string_view text, std::string* error) {
    const auto slash = text.find('/');
    const std::string addr(text.substr(0, slash));
    std::array<unsigned char, 16> bytes{};
    int family = AF_INET;
    unsigned max_len = 32;
    if (inet_pton(AF_INET, addr.c_str(), bytes.data()) != 1) {
        family = AF_INET6;
        max_len = 128;
        if (inet_pton(AF_INET6, addr.c_str(), bytes.data()) != 1) {
            fail(error, "invalid CIDR " + quoted(text) + " (expected e.g. 10.0.0.0/8 or fd00::/8)");
            return std::nullopt;
        }
    }
    unsigned len = max_len;
    if (slash != std::string_view::npos) {
        const std::string_view len_text = text.substr(slash + 1);
        if (len_text.empty() || len_text.size() > 3 ||
            !std::all_of(len_text.begin(), len_text.end(), is_digit)) {
            fail(error, "invalid prefix length in " + quoted(text));
            return std::nullopt;
        }
        len = static_cast<unsigned>(std::stoul(std::string(len_text)));
        if (len > max_len) {
            fail(error, "prefix length " + std::to_string(len) + " in " + quoted(text) +
                            " is out of range (0-" + std::to_string(max_len) + ")");
            return std::nullopt;
        }
    }
    std::array<unsigned char, 16> network = bytes;
    for (unsigned bit = len; bit < max_len; ++bit) {
        network[bit / 8] = static_cast<unsigned char>(network[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    std::array<char, INET6_ADDRSTRLEN> buf{};
    inet_ntop(family, network.data(), buf.data(), buf.size());
    const std::string canonical = std::string(buf.data()) + "/" + std::to_string(len);
    if (network != bytes) {
        fail(error, quoted(text) + " has host bits set (did you mean " + canonical + "?)");
        return std::nullopt;
    }
    return canonical;
}

bool is_token(std::string_view s) {
    static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return is_alnum(c) || kExtra.find(c) != std::string_view::npos;
    });
}

bool is_valid_header_value(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

bool is_identifier(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return is_alnum(c) || c == '_' || c == '.' || c == '-';
    });
}

bool is_valid_hostname(std::string_view s) {
    if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
        return is_ipv6(s.substr(1, s.size() - 2));
    }
    return check_host(s, nullptr);
}

bool is_valid_host_pattern(std::string_view s) {
    if (s.starts_with("*.")) {
        s.remove_prefix(2);
    }
    return s.find('*') == std::string_view::npos && is_valid_hostname(s);
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
    const std::string w = lower(word);
    std::optional<std::string> best;
    std::size_t best_distance = 3;
    for (const std::string& c : candidates) {
        const std::size_t d = edit_distance(w, lower(c));
        if (d < best_distance && d < std::max<std::size_t>(w.size(), 2)) {
            best = c;
            best_distance = d;
        }
    }
    if (best) {
        return best;
    }
    for (const std::string& c : candidates) {
        const std::string lc = lower(c);
        if ((w.size() >= 3 && lc.starts_with(w)) || (lc.size() >= 3 && w.starts_with(lc))) {
            return c;
        }
    }
    return std::nullopt;
}

std::optional<StatusRange> parse_status_range(std::string_view text, std::string* error) {
    auto number = [](std::string_view digits, std::uint16_t& out) {
        if (digits.size() != 3 || !std::all_of(digits.begin(), digits.end(), is_digit)) {
            return false;
        }
        out = static_cast<std::uint16_t>((digits[0] - '0') * 100 + (digits[1] - '0') * 10 +
                                         (digits[2] - '0'));
        return out >= 100 && out <= 599;
    };
    StatusRange r;
    const auto dash = text.find('-');
    const bool ok = dash == std::string_view::npos
                        ? number(text, r.low) && number(text, r.high)
                        : number(text.substr(0, dash), r.low) &&
                              number(text.substr(dash + 1), r.high) && r.low <= r.high;
    if (!ok) {
        fail(error, "invalid status range " + quoted(text) +
                        " (expected a status like \"200\" or a range like \"200-399\", 100-599)");
        return std::nullopt;
    }
    return r;
}

}  // namespace usher::config
