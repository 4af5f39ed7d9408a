#pragma once
// A small blocking HTTP/1.1 client for the admin API, used by `usher reload`: one request with
// `Connection: close`, the response read to the end and parsed by the strict HTTP/1 parser.
#include <chrono>
#include <string>
#include <string_view>

namespace usher::cli {

struct AdminReply {
    int status = 0;  // 0: no HTTP response (see error)
    std::string body;
    std::string error;  // why there is no response ("connection refused", "timed out", ...)
};

// `address` is "host:port" ("127.0.0.1:9901", "[::1]:9901"); `token` "" sends no Authorization.
AdminReply admin_request(const std::string& address, std::string_view method, std::string_view path,
                         const std::string& token,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace usher::cli
