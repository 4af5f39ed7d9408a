#pragma once
// Router: the routes of one config snapshot, compiled once (RE2 patterns, lower-cased hosts) and
// matched in config order; the first match wins. Immutable after construction and shared by all
// workers (RE2 matching is thread-safe). Matching allocates nothing.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "http/message.hpp"

namespace re2 {
class RE2;
}

namespace usher::proxy {

class CompiledMatch {
  public:
    explicit CompiledMatch(const config::StringMatch& m);
    ~CompiledMatch();
    CompiledMatch(CompiledMatch&&) noexcept;
    CompiledMatch& operator=(CompiledMatch&&) noexcept;
    // `value` is nullptr-like when absent: pass present=false.
    bool matches(bool present, std::string_view value) const noexcept;

  private:
    config::StringMatchKind kind_;
    std::string text_;
    std::unique_ptr<re2::RE2> re_;
};

struct CompiledRoute {
    const config::Route* config = nullptr;
    std::size_t index = 0;
    struct Host {
        bool wildcard;
        std::string text;  // lower-cased; for "*.example.com" the suffix ".example.com"
    };
    std::vector<Host> hosts;
    std::unique_ptr<CompiledMatch> path;
    std::vector<std::string> methods;
    struct Named {
        std::string name;
        CompiledMatch match;
    };
    std::vector<Named> headers, cookies, query;
    std::vector<std::string> listeners;
};

class Router {
  public:
    // The config has been validated (regexes compile); throws std::runtime_error otherwise.
    explicit Router(const config::Config& config);
    ~Router();

    // The first route matching `head` on listener `listener`, or nullptr (-> 404).
    const CompiledRoute* match(const http::RequestHead& head,
                               std::string_view listener) const noexcept;
    std::size_t size() const noexcept { return routes_.size(); }
    const std::vector<CompiledRoute>& routes() const noexcept { return routes_; }

  private:
    std::vector<CompiledRoute> routes_;
};

// Helpers shared with rewrites and tests.
std::string_view strip_port(std::string_view authority) noexcept;
// The value of cookie `name` in the request's Cookie headers; false when absent.
bool find_cookie(const http::HeaderMap& headers, std::string_view name,
                 std::string_view& value) noexcept;
// The value of query parameter `name` in `query` (the part after '?'); false when absent.
bool find_query_param(std::string_view query, std::string_view name,
                      std::string_view& value) noexcept;

}  // namespace usher::proxy
