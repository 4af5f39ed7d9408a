#include "config/syntax.hpp"

#include <gtest/gtest.h>

namespace usher::config {
namespace {

std::string address_error(std::string_view text, bool for_listener = false) {
    std::string error;
    EXPECT_FALSE(parse_socket_address(text, for_listener, &error).has_value()) << text;
    return error;
}

TEST(SocketAddressSyntax, ParsesHostPortForms) {
    EXPECT_EQ(parse_socket_address("127.0.0.1:8080", false, nullptr)->to_string(),
              "127.0.0.1:8080");
    EXPECT_EQ(parse_socket_address("[::1]:8080", false, nullptr)->host, "::1");
    EXPECT_EQ(parse_socket_address("backend.local:80", false, nullptr)->host, "backend.local");
    EXPECT_EQ(parse_socket_address(":8080", true, nullptr)->to_string(), "0.0.0.0:8080");
}

TEST(SocketAddressSyntax, ListenersMayUsePortZero) {
    EXPECT_EQ(parse_socket_address("127.0.0.1:0", true, nullptr)->port, 0);
    EXPECT_EQ(address_error("127.0.0.1:0"), "port 0 is out of range (1-65535)");
    EXPECT_EQ(address_error("127.0.0.1:65536", true), "port 65536 is out of range (0-65535)");
}

TEST(SocketAddressSyntax, RejectsBadAddresses) {
    EXPECT_EQ(address_error(":8080"), "missing host in \":8080\" (expected host:port)");
    EXPECT_EQ(address_error("host"), "missing port in \"host\" (expected host:port)");
    EXPECT_EQ(address_error("host:"), "missing port in \"host:\" (expected host:port)");
    EXPECT_EQ(address_error("host:http"), "invalid port \"http\"");
    EXPECT_EQ(address_error("host:99999"), "port 99999 is out of range (1-65535)");
    EXPECT_EQ(address_error("host:123456789012345678901"),
              "port 123456789012345678901 is out of range (1-65535)");
    EXPECT_EQ(address_error("256.0.0.1:80"), "invalid IPv4 address \"256.0.0.1\"");
    EXPECT_EQ(address_error("bad host:80"), "invalid host \"bad host\"");
    EXPECT_EQ(address_error("[::g]:80"), "invalid IPv6 address in \"[::g]:80\"");
    EXPECT_EQ(address_error("[::1]"), "missing port in \"[::1]\" (expected [address]:port)");
    EXPECT_EQ(address_error("::1:80"), "IPv6 addresses need brackets, e.g. \"[::1]:8080\"");
}

TEST(EndpointSyntax, AcceptsHttpUrlsAndDefaultsPort80) {
    EXPECT_EQ(parse_endpoint_address("http://10.0.0.1:9000", nullptr)->to_string(),
              "10.0.0.1:9000");
    EXPECT_EQ(parse_endpoint_address("http://backend/", nullptr)->to_string(), "backend:80");
    EXPECT_EQ(parse_endpoint_address("HTTP://[::1]", nullptr)->to_string(), "[::1]:80");
}

TEST(EndpointSyntax, AcceptsHttpsUrlsDefaultsPort443AndReportsTheScheme) {
    EndpointScheme scheme = EndpointScheme::none;
    EXPECT_EQ(parse_endpoint_address("https://api.internal:8443", nullptr, &scheme)->to_string(),
              "api.internal:8443");
    EXPECT_EQ(scheme, EndpointScheme::https);
    EXPECT_EQ(parse_endpoint_address("HTTPS://backend/", nullptr, &scheme)->to_string(),
              "backend:443");
    EXPECT_EQ(parse_endpoint_address("https://[::1]", nullptr)->to_string(), "[::1]:443");
    EXPECT_EQ(parse_endpoint_address("http://backend", nullptr, &scheme)->to_string(),
              "backend:80");
    EXPECT_EQ(scheme, EndpointScheme::http);
    EXPECT_EQ(parse_endpoint_address("10.0.0.5:8443", nullptr, &scheme)->to_string(),
              "10.0.0.5:8443");
    EXPECT_EQ(scheme, EndpointScheme::none);
}

TEST(EndpointSyntax, RejectsOtherSchemesAndPaths) {
    std::string error;
    EXPECT_FALSE(parse_endpoint_address("ftp://a:21", &error));
    EXPECT_EQ(error, "unsupported scheme \"ftp\" (use http://, https:// or host:port)");
    EXPECT_FALSE(parse_endpoint_address("https://a:443/api", &error));
    EXPECT_EQ(error, "endpoint \"https://a:443/api\" must not have a path");
    EXPECT_FALSE(parse_endpoint_address("http://a:80/api", &error));
    EXPECT_EQ(error, "endpoint \"http://a:80/api\" must not have a path");
}

TEST(CidrSyntax, NormalizesNetworks) {
    EXPECT_EQ(normalize_cidr("10.0.0.0/8", nullptr), "10.0.0.0/8");
    EXPECT_EQ(normalize_cidr("192.168.1.7", nullptr), "192.168.1.7/32");
    EXPECT_EQ(normalize_cidr("fd00:0::/8", nullptr), "fd00::/8");
    EXPECT_EQ(normalize_cidr("0.0.0.0/0", nullptr), "0.0.0.0/0");
}

TEST(CidrSyntax, RejectsHostBitsAndBadPrefixes) {
    std::string error;
    EXPECT_FALSE(normalize_cidr("10.1.2.3/8", &error));
    EXPECT_EQ(error, "\"10.1.2.3/8\" has host bits set (did you mean 10.0.0.0/8?)");
    EXPECT_FALSE(normalize_cidr("10.0.0.0/", &error));
    EXPECT_EQ(error, "invalid prefix length in \"10.0.0.0/\"");
    EXPECT_FALSE(normalize_cidr("::/129", &error));
    EXPECT_EQ(error, "prefix length 129 in \"::/129\" is out of range (0-128)");
    EXPECT_FALSE(normalize_cidr("example.com/8", &error));
}

TEST(NameSyntax, TokensIdentifiersAndHostPatterns) {
    EXPECT_TRUE(is_token("X-Forwarded-For"));
    EXPECT_FALSE(is_token("X Env"));
    EXPECT_FALSE(is_token(""));
    EXPECT_TRUE(is_identifier("api-v2.eu_west"));
    EXPECT_FALSE(is_identifier("a/b"));
    EXPECT_TRUE(is_valid_host_pattern("*.example.com"));
    EXPECT_TRUE(is_valid_host_pattern("example.com"));
    EXPECT_TRUE(is_valid_host_pattern("[::1]"));
    EXPECT_FALSE(is_valid_host_pattern("*"));
    EXPECT_FALSE(is_valid_host_pattern("a.*.com"));
    EXPECT_FALSE(is_valid_host_pattern("*example.com"));
    EXPECT_FALSE(is_valid_host_pattern("example.com:8080"));
    EXPECT_TRUE(is_valid_header_value("text/plain; q=0.5\tx"));
    EXPECT_FALSE(is_valid_header_value("a\r\nb"));
}

TEST(ClosestMatch, SuggestsNearMissesAndPrefixes) {
    const std::vector<std::string> keys{"listeners", "routes", "clusters", "max_header_bytes"};
    EXPECT_EQ(closest_match("listners", keys), "listeners");
    EXPECT_EQ(closest_match("Routes", keys), "routes");
    EXPECT_EQ(closest_match("max_header", keys), "max_header_bytes");
    EXPECT_EQ(closest_match("zzz", keys), std::nullopt);
    EXPECT_EQ(closest_match("ab", std::vector<std::string>{"to"}), std::nullopt);
}

}  // namespace
}  // namespace usher::config
