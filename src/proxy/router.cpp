#include "proxy/router.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <stdexcept>

namespace usher::proxy {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

CompiledMatch::CompiledMatch(const config::StringMatch& m) : kind_(m.kind), text_(m.value) {
    if (kind_ == config::StringMatchKind::regex) {
        RE2::Options opts;
        opts.set_log_errors(false);
        re_ = std::make_unique<RE2>(m.value, opts);
        if (!re_->ok()) {
            throw std::runtime_error("invalid regex \"" + m.value + "\": " + re_->error());
        }
    }
}
CompiledMatch::~CompiledMatch() = default;
CompiledMatch::CompiledMatch(CompiledMatch&&) noexcept = default;
CompiledMatch& CompiledMatch::operator=(CompiledMatch&&) noexcept = default;

bool CompiledMatch::matches(bool present, std::string_view value) const noexcept {
    if (!present) {
        return false;
    }
    switch (kind_) {
        case config::StringMatchKind::present:
            return true;
        case config::StringMatchKind::exact:
            return value == text_;
        case config::StringMatchKind::prefix:
            return value.starts_with(text_);
        case config::StringMatchKind::regex:
            return RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *re_);
    }
    return false;
}

std::string_view strip_port(std::string_view authority) noexcept {
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
    }
    auto colon = authority.rfind(':');
    return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

bool find_cookie(const http::HeaderMap& headers, std::string_view name,
                 std::string_view& value) noexcept {
    for (const auto& f : headers) {
        if (!http::iequals(f.name, "cookie")) {
            continue;
        }
        std::string_view rest = f.value;
        while (!rest.empty()) {
            auto semi = rest.find(';');
            auto pair = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
            auto eq = pair.find('=');
            if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
                value = trim(pair.substr(eq + 1));
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
                    value = value.substr(1, value.size() - 2);
                }
                return true;
            }
        }
    }
    return false;
}

bool find_query_param(std::string_view query, std::string_view name,
                      std::string_view& value) noexcept {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            return true;
        }
    }
    return false;
}

Router::Router(const config::Config& config) {
    routes_.reserve(config.routes.size());
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
        const auto& r = config.routes[i];
        CompiledRoute c;
        c.config = &r;
        c.index = i;
        for (const auto& h : r.match.hosts) {
            if (h.starts_with("*.")) {
                c.hosts.push_back({true, lower(h.substr(1))});
            } else {
                c.hosts.push_back({false, lower(h)});
            }
        }
        if (r.match.path) {
            c.path = std::make_unique<CompiledMatch>(*r.match.path);
        }
        c.methods = r.match.methods;
        for (const auto& m : r.match.headers) {
            c.headers.push_back({m.name, CompiledMatch(m.match)});
        }
        for (const auto& m : r.match.cookies) {
            c.cookies.push_back({m.name, CompiledMatch(m.match)});
        }
        for (const auto& m : r.match.query) {
            c.query.push_back({m.name, CompiledMatch(m.match)});
        }
        c.listeners = r.match.listeners;
        routes_.push_back(std::move(c));
    }
}

Router::~Router() = default;

const CompiledRoute* Router::match(const http::RequestHead& head,
                                   std::string_view listener) const noexcept {
    std::string_view host = strip_port(head.authority);
    std::string_view path = head.path;
    std::string_view query;
    if (auto q = path.find('?'); q != std::string_view::npos) {
        query = path.substr(q + 1);
        path = path.substr(0, q);
    }
    for (const auto& r : routes_) {
        if (!r.listeners.empty() &&
            std::find(r.listeners.begin(), r.listeners.end(), listener) == r.listeners.end()) {
            continue;
        }
        if (!r.hosts.empty() && !std::any_of(r.hosts.begin(), r.hosts.end(), [&](const auto& h) {
                // "*.example.com" matches "a.example.com" and "a.b.example.com", not the apex.
                return h.wildcard ? host.size() > h.text.size() && iends_with(host, h.text)
                                  : http::iequals(host, h.text);
            })) {
            continue;
        }
        if (!r.methods.empty() &&
            std::find(r.methods.begin(), r.methods.end(), head.method) == r.methods.end()) {
            continue;
        }
        if (r.path && !r.path->matches(true, path)) {
            continue;
        }
        bool ok = std::all_of(r.headers.begin(), r.headers.end(), [&](const auto& m) {
            const auto* f = head.headers.find(m.name);
            return m.match.matches(f != nullptr, f ? f->value : std::string_view{});
        });
        ok = ok && std::all_of(r.cookies.begin(), r.cookies.end(), [&](const auto& m) {
                 std::string_view v;
                 bool present = find_cookie(head.headers, m.name, v);
                 return m.match.matches(present, v);
             });
        ok = ok && std::all_of(r.query.begin(), r.query.end(), [&](const auto& m) {
                 std::string_view v;
                 bool present = find_query_param(query, m.name, v);
                 return m.match.matches(present, v);
             });
        if (ok) {
            return &r;
        }
    }
    return nullptr;
}

}  // namespace usher::proxy
