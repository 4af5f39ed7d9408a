#include "config/balancer_reader.hpp"

#include <string>
#include <utility>
#include <vector>

#include "config/syntax.hpp"

namespace usher::config::detail {
namespace {

constexpr std::string_view kDefaultCookie = "usher_sticky";

const std::vector<std::pair<std::string, BalancerKind>> kKinds{
    {"round_robin", BalancerKind::round_robin}, {"least_request", BalancerKind::least_request},
    {"random", BalancerKind::random},           {"ring_hash", BalancerKind::ring_hash},
    {"maglev", BalancerKind::maglev},           {"cookie", BalancerKind::cookie},
    {"peak_ewma", BalancerKind::peak_ewma}};

const std::vector<std::string> kBalancerKeys{"kind", "hash_on", "name", "cookie", "peak_ewma"};

// A kind word, with a "did you mean" hint when it is close to one.
std::optional<BalancerKind> read_kind(Reader& r, const Field& f) {
    const auto s = r.string(f);
    if (!s) {
        return std::nullopt;
    }
    std::vector<std::string> words;
    std::string allowed;
    for (const auto& [word, kind] : kKinds) {
        if (word == *s) {
            return kind;
        }
        words.push_back(word);
        allowed.append(allowed.empty() ? "" : ", ").append(word);
    }
    std::string message = "unknown balancer \"";
    message.append(*s).append("\"");
    if (const auto hint = closest_match(*s, words)) {
        message.append(" (did you mean '").append(*hint).append("'?)");
    } else {
        message.append(" (expected one of: ").append(allowed).append(")");
    }
    r.error(f, message);
    return std::nullopt;
}

// `key` may only appear in the mapping of the kinds it configures.
bool only_for(Reader& r, const Field& f, std::string_view key, bool allowed,
              std::string_view kinds) {
    const auto v = r.get(f, key);
    if (v && !allowed) {
        std::string message = "\"";
        message.append(key).append("\" only applies to balancer ").append(kinds);
        r.error(*v, std::move(message));
        return false;
    }
    return v.has_value();
}

}  // namespace

void read_balancer(Reader& r, const Field& f, Cluster& cluster) {
    auto& o = cluster.balancer_options;
    if (f.node.IsMap()) {
        if (!r.mapping(f, kBalancerKeys)) {
            return;
        }
        const auto k = r.require(f, "kind");
        if (!k) {
            return;  // the other keys depend on the kind
        }
        cluster.balancer = read_kind(r, *k).value_or(cluster.balancer);
    } else {
        cluster.balancer = read_kind(r, f).value_or(cluster.balancer);
    }
    const bool hashing =
        cluster.balancer == BalancerKind::ring_hash || cluster.balancer == BalancerKind::maglev;
    if (cluster.balancer == BalancerKind::cookie) {
        o.hash_on = HashOn::cookie;
        o.hash_name = kDefaultCookie;
    }
    if (!f.node.IsMap()) {
        return;
    }
    if (only_for(r, f, "hash_on", hashing, "ring_hash and maglev")) {
        o.hash_on = r.choice<HashOn>(*r.get(f, "hash_on"), {{"source_ip", HashOn::source_ip},
                                                            {"header", HashOn::header},
                                                            {"cookie", HashOn::cookie},
                                                            {"path", HashOn::path}})
                        .value_or(o.hash_on);
    }
    const bool named = hashing && (o.hash_on == HashOn::header || o.hash_on == HashOn::cookie);
    const std::string what = o.hash_on == HashOn::header ? "header" : "cookie";
    if (only_for(r, f, "name", named, "ring_hash and maglev with hash_on: header or cookie")) {
        const auto n = r.get(f, "name");
        if (const auto s = r.string(*n)) {
            if (!is_token(*s)) {  // RFC 9110 field names and RFC 6265 cookie names are tokens
                r.error(*n, std::string("invalid ")
                                .append(what)
                                .append(" name \"")
                                .append(*s)
                                .append("\""));
            }
            o.hash_name = *s;
        }
    } else if (named) {
        r.error(f, std::string("hash_on: ")
                       .append(what)
                       .append(" needs \"name\" (the ")
                       .append(what)
                       .append(" to hash)"));
    }
    if (only_for(r, f, "cookie", cluster.balancer == BalancerKind::cookie, "cookie")) {
        const auto c = *r.get(f, "cookie");
        if (r.mapping(c, {"name"})) {
            if (const auto n = r.get(c, "name")) {
                if (const auto s = r.string(*n)) {
                    if (!is_token(*s)) {
                        r.error(*n, std::string("invalid cookie name \"").append(*s).append("\""));
                    }
                    o.hash_name = *s;
                }
            }
        }
    }
    if (only_for(r, f, "peak_ewma", cluster.balancer == BalancerKind::peak_ewma, "peak_ewma")) {
        const auto p = *r.get(f, "peak_ewma");
        if (r.mapping(p, {"decay"})) {
            if (const auto d = r.get(p, "decay")) {
                o.decay = r.duration(*d, false).value_or(o.decay);
            }
        }
    }
}

}  // namespace usher::config::detail
