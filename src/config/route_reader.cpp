#include "config/route_reader.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <tuple>

#include "config/resilience_reader.hpp"
#include "config/syntax.hpp"

namespace usher::config::detail {
namespace {

const std::vector<std::string> kRouteKeys{
    "name",    "match",           "cluster",          "redirect", "respond",
    "rewrite", "request_headers", "response_headers", "timeouts", "max_body",
    "retry"};
const std::vector<std::string> kMatchKeys{"host",    "path",  "method",  "headers",
                                          "cookies", "query", "listener"};
const std::vector<std::string> kPathKeys{"prefix", "exact", "regex"};
const std::vector<std::string> kNamedMatchKeys{"name", "equals", "regex", "present"};
const std::vector<std::string> kTimeoutKeys{"connect",         "request_header", "client_idle",
                                            "upstream_header", "upstream_idle",  "total"};
const std::vector<std::string> kActions{"cluster", "redirect", "respond"};
const std::vector<std::string> kKnownMethods{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                             "CONNECT", "OPTIONS", "TRACE", "PATCH"};

constexpr std::string_view kTokenHint = "(letters, digits and !#$%&'*+-.^_`|~ only)";

std::string lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

// "unknown cluster "x" (did you mean 'y'?)" and friends, for names defined elsewhere in the file.
std::string unknown_name(std::string_view what, const std::string& name,
                         const std::vector<std::string>& defined) {
    std::string message = "unknown " + std::string(what) + " \"" + name + "\"";
    if (defined.empty()) {
        return message + " (no " + std::string(what) + "s are defined)";
    }
    if (const auto hint = closest_match(name, defined)) {
        return message + " (did you mean '" + *hint + "'?)";
    }
    std::string all;
    for (const std::string& d : defined) {
        all += (all.empty() ? "" : ", ") + d;
    }
    return message + " (defined: " + all + ")";
}

class RouteReader {
  public:
    explicit RouteReader(RouteContext& ctx) : ctx_(ctx), r_(ctx.reader) {}

    std::vector<Route> read(const Field& f) {
        std::vector<Route> routes;
        const auto items = r_.list(f);
        if (!items) {
            return routes;
        }
        std::map<std::string, std::string> names;  // name -> path of the route that has it
        for (std::size_t i = 0; i < items->size(); ++i) {
            const Field& item = (*items)[i];
            Route route = read_route(item, i);
            const auto name_field = r_.get(item, "name");
            const auto [it, inserted] = names.emplace(route.name, item.path);
            if (!inserted) {
                r_.error(name_field ? *name_field : item, "duplicate route name \"" + route.name +
                                                              "\" (also used by " + it->second +
                                                              ")");
            }
            routes.push_back(std::move(route));
        }
        return routes;
    }

  private:
    Route read_route(const Field& f, std::size_t index) {
        Route route;
        route.name = "route[" + std::to_string(index) + "]";
        if (!r_.mapping(f, kRouteKeys)) {
            return route;
        }
        if (const auto name = r_.get(f, "name")) {
            if (const auto s = r_.string(*name)) {
                if (s->empty()) {
                    r_.error(*name, "must not be empty");
                } else {
                    route.name = *s;
                }
            }
        }
        if (const auto match = r_.get(f, "match")) {
            read_match(*match, route.match);
        }
        read_actions(f, route);
        if (const auto rewrite = r_.get(f, "rewrite")) {
            read_rewrite(*rewrite, route.rewrite);
            if (redirects_or_responds(f)) {
                r_.error(*rewrite, "rewrite applies only to routes with a cluster");
            }
        }
        if (const auto h = r_.get(f, "request_headers")) {
            read_header_edits(*h, route.request_headers);
        }
        if (const auto h = r_.get(f, "response_headers")) {
            read_header_edits(*h, route.response_headers);
        }
        if (const auto t = r_.get(f, "timeouts")) {
            read_timeout_overrides(r_, *t, route.timeouts);
        }
        if (const auto m = r_.get(f, "max_body")) {
            route.max_body = r_.size(*m, true);
        }
        if (const auto retry = r_.get(f, "retry")) {
            route.retry = read_retry(r_, *retry);
            if (redirects_or_responds(f)) {
                r_.error(*retry, "retry needs a cluster action");
            }
        }
        return route;
    }

    // The route answers by itself: a redirect or respond action and no cluster.
    bool redirects_or_responds(const Field& f) const {
        return !r_.get(f, "cluster") && (r_.get(f, "redirect") || r_.get(f, "respond"));
    }

    void read_actions(const Field& f, Route& route) {
        std::vector<std::pair<std::string, Field>> present;  // in file order
        for (const std::string& action : kActions) {
            if (auto a = r_.get(f, action)) {
                present.emplace_back(action, std::move(*a));
            }
        }
        std::stable_sort(present.begin(), present.end(), [](const auto& a, const auto& b) {
            return std::tie(a.second.line, a.second.column) <
                   std::tie(b.second.line, b.second.column);
        });
        if (present.empty()) {
            r_.error(f, "route has no action (set one of: cluster, redirect, respond)");
        }
        for (std::size_t i = 0; i < present.size(); ++i) {
            const auto& [action, a] = present[i];
            if (i > 0) {
                r_.error(a, "a route has exactly one action, but \"" + present.front().first +
                                "\" is also set");
            }
            if (action == "cluster") {
                read_cluster_ref(a, route);
            } else if (action == "redirect") {
                route.redirect = read_redirect(a);
            } else {
                route.respond = read_respond(a);
            }
        }
    }

    void read_cluster_ref(const Field& f, Route& route) {
        const auto name = r_.string(f);
        if (!name) {
            return;
        }
        const auto& clusters = ctx_.cluster_names;
        if (std::find(clusters.begin(), clusters.end(), *name) == clusters.end()) {
            r_.error(f, unknown_name("cluster", *name, clusters));
            return;
        }
        route.cluster = *name;
    }

    std::optional<Redirect> read_redirect(const Field& f) {
        Redirect redirect;
        if (!r_.mapping(f, {"status", "to"})) {
            return std::nullopt;
        }
        if (const auto status = r_.get(f, "status")) {
            if (const auto s = r_.string(*status)) {
                if (*s == "301" || *s == "302" || *s == "307" || *s == "308") {
                    redirect.status = std::stoi(*s);
                } else {
                    r_.error(*status,
                             "redirect status " + *s + " is not one of 301, 302, 307, 308");
                }
            }
        }
        if (const auto to = r_.require(f, "to")) {
            if (const auto s = r_.string(*to)) {
                if (s->empty() || !is_valid_header_value(*s)) {
                    r_.error(*to, "expected a URL or a path");
                }
                redirect.to = *s;
            }
        }
        return redirect;
    }

    std::optional<DirectResponse> read_respond(const Field& f) {
        DirectResponse respond;
        if (!r_.mapping(f, {"status", "body", "content_type"})) {
            return std::nullopt;
        }
        if (const auto status = r_.get(f, "status")) {
            if (const auto n = r_.integer(*status, 200, 599)) {
                respond.status = static_cast<int>(*n);
            }
        }
        if (const auto body = r_.get(f, "body")) {
            if (const auto s = r_.string(*body)) {
                respond.body = *s;
            }
        }
        if (const auto type = r_.get(f, "content_type")) {
            if (const auto s = r_.string(*type)) {
                if (s->empty() || !is_valid_header_value(*s)) {
                    r_.error(*type, "invalid content type \"" + *s + "\"");
                }
                respond.content_type = *s;
            }
        }
        return respond;
    }

    void read_match(const Field& f, RouteMatch& m) {
        if (!r_.mapping(f, kMatchKeys)) {
            return;
        }
        if (const auto host = r_.get(f, "host")) {
            for (const Field& h : r_.strings(*host).value_or(std::vector<Field>{})) {
                const std::string pattern = lower(h.node.Scalar());
                if (!is_valid_host_pattern(pattern)) {
                    r_.error(h, "invalid host pattern \"" + h.node.Scalar() +
                                    "\" (a hostname, or \"*.\" followed by one)");
                }
                m.hosts.push_back(pattern);
            }
        }
        if (const auto path = r_.get(f, "path")) {
            m.path = read_path(*path);
        }
        if (const auto method = r_.get(f, "method")) {
            for (const Field& item : r_.strings(*method).value_or(std::vector<Field>{})) {
                read_method(item, m.methods);
            }
        }
        if (const auto h = r_.get(f, "headers")) {
            m.headers = read_named_matches(*h, true);
        }
        if (const auto c = r_.get(f, "cookies")) {
            m.cookies = read_named_matches(*c, true);
        }
        if (const auto q = r_.get(f, "query")) {
            m.query = read_named_matches(*q, false);
        }
        if (const auto l = r_.get(f, "listener")) {
            for (const Field& item : r_.strings(*l).value_or(std::vector<Field>{})) {
                const std::string& name = item.node.Scalar();
                const auto& listeners = ctx_.listener_names;
                if (std::find(listeners.begin(), listeners.end(), name) == listeners.end()) {
                    r_.error(item, unknown_name("listener", name, listeners));
                }
                m.listeners.push_back(name);
            }
        }
    }

    void read_method(const Field& f, std::vector<std::string>& methods) {
        const std::string& method = f.node.Scalar();
        const std::string up = upper(method);
        if (!is_token(method)) {
            r_.error(f, "invalid method \"" + method + "\" " + std::string(kTokenHint));
        } else if (method != up && std::find(kKnownMethods.begin(), kKnownMethods.end(), up) !=
                                       kKnownMethods.end()) {
            r_.error(f, "methods are case-sensitive: did you mean '" + up + "'?");
        }
        methods.push_back(method);
    }

    std::optional<StringMatch> read_path(const Field& f) {
        if (f.node.IsScalar()) {
            return path_value(f, StringMatchKind::prefix);
        }
        if (!r_.mapping(f, kPathKeys)) {
            return std::nullopt;
        }
        std::optional<StringMatch> result;
        const std::array<std::pair<const char*, StringMatchKind>, 3> kinds{
            {{"prefix", StringMatchKind::prefix},
             {"exact", StringMatchKind::exact},
             {"regex", StringMatchKind::regex}}};
        std::string first;
        for (const auto& [key, kind] : kinds) {
            const auto v = r_.get(f, key);
            if (!v) {
                continue;
            }
            if (!first.empty()) {
                r_.error(*v,
                         "set only one of prefix, exact, regex (\"" + first + "\" is also set)");
                continue;
            }
            first = key;
            result = path_value(*v, kind);
        }
        if (first.empty()) {
            r_.error(f, "set one of prefix, exact, regex");
        }
        return result;
    }

    std::optional<StringMatch> path_value(const Field& f, StringMatchKind kind) {
        const auto s = r_.string(f);
        if (!s) {
            return std::nullopt;
        }
        if (kind == StringMatchKind::regex) {
            check_regex(f, *s);
        } else if (s->empty() || s->front() != '/') {
            r_.error(f, "path must start with \"/\", got \"" + *s + "\"");
        }
        return StringMatch{kind, *s};
    }

    void check_regex(const Field& f, const std::string& pattern) {
        RE2::Options options;
        options.set_log_errors(false);
        const RE2 re(pattern, options);
        if (!re.ok()) {
            r_.error(f, "invalid regex \"" + pattern + "\": " + re.error());
        }
    }

    std::vector<NamedMatch> read_named_matches(const Field& f, bool token_names) {
        std::vector<NamedMatch> out;
        for (const Field& item : r_.list(f).value_or(std::vector<Field>{})) {
            if (!r_.mapping(item, kNamedMatchKeys)) {
                continue;
            }
            NamedMatch nm;
            if (const auto name = r_.require(item, "name")) {
                if (const auto s = r_.string(*name)) {
                    if (token_names ? !is_token(*s) : s->empty()) {
                        r_.error(*name, "invalid name \"" + *s + "\" " +
                                            (token_names ? std::string(kTokenHint) : ""));
                    }
                    nm.name = *s;
                }
            }
            std::string first;
            for (const char* key : {"equals", "regex", "present"}) {
                const auto v = r_.get(item, key);
                if (!v) {
                    continue;
                }
                if (!first.empty()) {
                    r_.error(*v, "set only one of equals, regex, present (\"" + first +
                                     "\" is also set)");
                    continue;
                }
                first = key;
                read_condition(*v, key, nm.match);
            }
            if (first.empty()) {
                r_.error(item, "set one of equals, regex, present");
            }
            out.push_back(std::move(nm));
        }
        return out;
    }

    void read_condition(const Field& f, std::string_view key, StringMatch& m) {
        if (key == "present") {
            m.kind = StringMatchKind::present;
            if (const auto b = r_.boolean(f); b && !*b) {
                r_.error(f, "present: false is not supported (leave the condition out)");
            }
            return;
        }
        const auto s = r_.string(f);
        if (!s) {
            return;
        }
        m.value = *s;
        if (key == "regex") {
            m.kind = StringMatchKind::regex;
            check_regex(f, *s);
        } else {
            m.kind = StringMatchKind::exact;
        }
    }

    void read_rewrite(const Field& f, Rewrite& rw) {
        if (!r_.mapping(f, {"strip_prefix", "replace_prefix", "host"})) {
            return;
        }
        for (const char* key : {"strip_prefix", "replace_prefix"}) {
            const auto v = r_.get(f, key);
            if (!v) {
                continue;
            }
            const auto s = r_.string(*v);
            if (!s) {
                continue;
            }
            if (s->empty() || s->front() != '/') {
                r_.error(*v, "must start with \"/\", got \"" + *s + "\"");
            }
            (std::string_view(key) == "strip_prefix" ? rw.strip_prefix : rw.replace_prefix) = *s;
        }
        if (rw.replace_prefix && !rw.strip_prefix) {
            r_.error(*r_.get(f, "replace_prefix"), "replace_prefix needs strip_prefix");
        }
        if (const auto host = r_.get(f, "host")) {
            if (const auto s = r_.string(*host)) {
                if (!is_valid_hostname(*s) &&
                    !parse_socket_address(*s, false, nullptr).has_value()) {
                    r_.error(*host, "invalid host \"" + *s + "\" (expected host or host:port)");
                }
                rw.host = *s;
            }
        }
    }

    void read_header_edits(const Field& f, HeaderEdits& edits) {
        if (!r_.mapping(f, {"set", "add", "remove"})) {
            return;
        }
        for (const char* key : {"set", "add"}) {
            const auto v = r_.get(f, key);
            if (!v) {
                continue;
            }
            auto& out = std::string_view(key) == "set" ? edits.set : edits.add;
            for (const auto& [name, value] :
                 r_.entries(*v).value_or(std::vector<std::pair<Field, Field>>{})) {
                check_header_name(name, name.node.Scalar());
                if (const auto s = r_.string(value)) {
                    if (!is_valid_header_value(*s)) {
                        r_.error(value, "header values must not contain control characters");
                    }
                    out.emplace_back(name.node.Scalar(), *s);
                }
            }
        }
        if (const auto v = r_.get(f, "remove")) {
            for (const Field& item : r_.strings(*v).value_or(std::vector<Field>{})) {
                check_header_name(item, item.node.Scalar());
                edits.remove.push_back(item.node.Scalar());
            }
        }
    }

    void check_header_name(const Field& f, const std::string& name) {
        if (!is_token(name)) {
            r_.error(f, "invalid header name \"" + name + "\" " + std::string(kTokenHint));
        }
    }

    RouteContext& ctx_;
    Reader& r_;
};

}  // namespace

std::vector<Route> read_routes(RouteContext& ctx, const Field& f) {
    return RouteReader(ctx).read(f);
}

void read_timeout_overrides(Reader& r, const Field& f, TimeoutOverrides& out) {
    if (!r.mapping(f, kTimeoutKeys)) {
        return;
    }
    const std::array<std::pair<const char*, std::optional<Duration>*>, 6> fields{
        {{"connect", &out.connect},
         {"request_header", &out.request_header},
         {"client_idle", &out.client_idle},
         {"upstream_header", &out.upstream_header},
         {"upstream_idle", &out.upstream_idle},
         {"total", &out.total}}};
    for (const auto& [key, target] : fields) {
        if (const auto v = r.get(f, key)) {
            // Only `total` may be 0 (= no limit); a zero connect or idle timeout is a mistake.
            if (const auto d = r.duration(*v, std::string_view(key) == "total")) {
                *target = *d;
            }
        }
    }
}

}  // namespace usher::config::detail
