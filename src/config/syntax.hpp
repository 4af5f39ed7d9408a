#pragma once
// Small syntax checks the config loader needs, kept free of yaml-cpp so they are easy to test and
// reuse (the CLI's quick mode parses --listen/--to with the same functions). Each returns the
// parsed value, or nullopt and a one-line reason in *error that does not repeat the field path.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace usher::config {

// "host:port", "[v6]:port". The host is an IPv4/IPv6 literal or a hostname; the port is 1-65535.
// For a listener (for_listener) the host may be empty (":8080" = 0.0.0.0:8080) and the port may be
// 0 (the kernel picks a free one; integration tests rely on it).
std::optional<SocketAddress> parse_socket_address(std::string_view text, bool for_listener,
                                                  std::string* error);

// Which scheme an endpoint was written with ("host:port" has none).
enum class EndpointScheme { none, http, https };

// An upstream endpoint: "host:port", "http://host:port" (port 80 if omitted) or
// "https://host:port" (port 443 if omitted); one trailing "/" allowed. The scheme is stored in
// *scheme when given (https:// turns TLS on for the cluster; the loader checks consistency).
std::optional<SocketAddress> parse_endpoint_address(std::string_view text, std::string* error,
                                                    EndpointScheme* scheme = nullptr);

// "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128). Returns the canonical form
// "address/length". Host bits set below the prefix are an error (with the intended network).
std::optional<std::string> normalize_cidr(std::string_view text, std::string* error);

// RFC 9110 token (header names, methods).
bool is_token(std::string_view s);

// A header value we can send: no control characters except horizontal tab.
bool is_valid_header_value(std::string_view s);

// Names of clusters: [A-Za-z0-9_.-]+.
bool is_identifier(std::string_view s);

// A hostname or IP literal (IPv6 in brackets), without a port.
bool is_valid_hostname(std::string_view s);

// A route host pattern: a hostname, or "*." followed by a hostname. Nothing else may contain '*'.
bool is_valid_host_pattern(std::string_view s);

// "200-399" or "204": an inclusive range of HTTP statuses within 100-599.
std::optional<StatusRange> parse_status_range(std::string_view text, std::string* error);

// The candidate closest to `word` for a "did you mean" hint: edit distance <= 2 (case-insensitive)
// or a prefix match of at least 3 characters either way. nullopt when nothing is close.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

}  // namespace usher::config
