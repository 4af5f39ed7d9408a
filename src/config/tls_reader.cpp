#include "config/tls_reader.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include "config/syntax.hpp"

namespace usher::config::detail {
namespace {

const std::vector<std::string> kTlsKeys{"certificates",   "min_version", "alpn",
                                        "client_ca",      "client_auth", "handshake_timeout",
                                        "session_tickets"};
const std::vector<std::string> kCertificateKeys{"cert", "key", "ocsp"};
const std::vector<std::string> kUpstreamTlsKeys{"ca_file", "verify", "server_name", "client_cert",
                                                "client_key"};
const std::vector<std::string> kHstsKeys{"max_age", "include_subdomains", "preload"};

constexpr std::uint64_t kSecondsPerDay = 24 * 3600;
constexpr std::uint64_t kSecondsPerYear = 365 * kSecondsPerDay;
constexpr std::uint64_t kMaxHstsSeconds = 10 * kSecondsPerYear;

std::string resolve_path(const std::string& source, const std::string& path) {
    const std::filesystem::path p(path);
    if (p.is_absolute()) {
        return path;
    }
    const std::filesystem::path dir = std::filesystem::path(source).parent_path();
    return dir.empty() ? path : (dir / p).lexically_normal().string();
}

std::optional<std::string> read_path(Reader& r, const Field& f, const std::string& source) {
    const auto s = r.string(f);
    if (!s) {
        return std::nullopt;
    }
    if (s->empty()) {
        r.error(f, "empty file name");
        return std::nullopt;
    }
    return resolve_path(source, *s);
}

void read_certificates(Reader& r, const Field& f, const std::string& source, ListenerTls& tls) {
    const auto items = r.list(f);
    if (!items) {
        return;
    }
    if (items->empty()) {
        r.error(f, "at least one certificate is required");
        return;
    }
    for (const Field& item : *items) {
        if (!item.node.IsMap()) {
            r.error(item, "expected a mapping with cert, key and optionally ocsp");
            continue;
        }
        if (!r.mapping(item, kCertificateKeys)) {
            continue;
        }
        TlsCertificate c;
        if (const auto v = r.require(item, "cert")) {
            c.cert = read_path(r, *v, source).value_or("");
        }
        if (const auto v = r.require(item, "key")) {
            c.key = read_path(r, *v, source).value_or("");
        }
        if (const auto v = r.get(item, "ocsp")) {
            c.ocsp = read_path(r, *v, source).value_or("");
        }
        tls.certificates.push_back(std::move(c));
    }
}

void read_alpn(Reader& r, const Field& f, ListenerTls& tls) {
    const auto items = r.strings(f);
    if (!items) {
        return;
    }
    tls.alpn.clear();
    if (items->empty()) {
        r.error(f, "at least one protocol is required (e.g. [http/1.1])");
        return;
    }
    for (const Field& item : *items) {
        const std::string& name = item.node.Scalar();
        const auto& known = supported_alpn();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string all;
            for (const auto& k : known) {
                all += (all.empty() ? "" : ", ") + k;
            }
            r.error(item, "unsupported protocol \"" + name + "\" (supported: " + all + ")");
            continue;
        }
        if (std::find(tls.alpn.begin(), tls.alpn.end(), name) != tls.alpn.end()) {
            r.error(item, "duplicate protocol \"" + name + "\"");
            continue;
        }
        tls.alpn.push_back(name);
    }
}

void read_tls(Reader& r, const Field& f, const std::string& source, ListenerTls& tls) {
    if (!f.node.IsMap()) {
        r.error(f, "expected a mapping with at least certificates");
        return;
    }
    if (!r.mapping(f, kTlsKeys)) {
        return;
    }
    if (const auto v = r.require(f, "certificates")) {
        read_certificates(r, *v, source, tls);
    }
    if (const auto v = r.get(f, "min_version")) {
        tls.min_version =
            r.choice<TlsVersion>(*v, {{"1.2", TlsVersion::tls1_2}, {"1.3", TlsVersion::tls1_3}})
                .value_or(tls.min_version);
    }
    if (const auto v = r.get(f, "alpn")) {
        read_alpn(r, *v, tls);
    }
    if (const auto v = r.get(f, "client_ca")) {
        tls.client_ca = read_path(r, *v, source).value_or("");
        tls.client_auth = ClientAuth::require;
    }
    if (const auto v = r.get(f, "client_auth")) {
        const auto mode = r.choice<ClientAuth>(
            *v, {{"require", ClientAuth::require}, {"optional", ClientAuth::optional}});
        if (mode && !r.get(f, "client_ca")) {
            r.error(*v,
                    "client_auth needs client_ca (the CA file client certificates are "
                    "verified against)");
        }
        tls.client_auth = mode.value_or(tls.client_auth);
    }
    if (const auto v = r.get(f, "handshake_timeout")) {
        tls.handshake_timeout = r.duration(*v, false).value_or(tls.handshake_timeout);
    }
    if (const auto v = r.get(f, "session_tickets")) {
        tls.session_tickets = r.boolean(*v).value_or(tls.session_tickets);
    }
}

// HSTS max-age: a whole number of seconds (as in the header), or a duration that may also use
// days and years: "1y", "180d", "12h".
std::optional<std::chrono::seconds> read_max_age(Reader& r, const Field& f) {
    const std::string s = f.node.IsScalar() ? f.node.Scalar() : std::string();
    std::uint64_t seconds = 0;
    const auto digits = [](std::string_view t) {
        return !t.empty() && t.size() < 12 &&
               std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (digits(s)) {
        seconds = std::stoull(s);
    } else if (s.size() > 1 && (s.back() == 'd' || s.back() == 'y') &&
               digits(std::string_view(s).substr(0, s.size() - 1))) {
        seconds = std::stoull(s.substr(0, s.size() - 1)) *
                  (s.back() == 'd' ? kSecondsPerDay : kSecondsPerYear);
    } else {
        const auto d = r.duration(f, true);
        if (!d) {
            return std::nullopt;
        }
        seconds = static_cast<std::uint64_t>(d->count() / 1000);
    }
    if (seconds > kMaxHstsSeconds) {
        r.error(f, "at most 10 years (" + std::to_string(kMaxHstsSeconds) + " seconds)");
        return std::nullopt;
    }
    return std::chrono::seconds(static_cast<std::chrono::seconds::rep>(seconds));
}

void read_hsts(Reader& r, const Field& f, Hsts& hsts) {
    if (!r.mapping(f, kHstsKeys)) {
        return;
    }
    if (const auto v = r.get(f, "max_age")) {
        hsts.max_age = read_max_age(r, *v).value_or(hsts.max_age);
    }
    if (const auto v = r.get(f, "include_subdomains")) {
        hsts.include_subdomains = r.boolean(*v).value_or(hsts.include_subdomains);
    }
    if (const auto v = r.get(f, "preload")) {
        hsts.preload = r.boolean(*v).value_or(hsts.preload);
    }
    if (hsts.preload &&
        (!hsts.include_subdomains || hsts.max_age < std::chrono::seconds(kSecondsPerYear))) {
        r.error(f,
                "preload needs include_subdomains: true and max_age of at least 1y "
                "(hstspreload.org requirements)");
    }
}

const std::vector<std::string> kHttp2Keys{"h2c", "max_concurrent_streams", "initial_stream_window",
                                          "connection_window", "max_header_list_size"};

void read_http2(Reader& r, const Field& f, Http2& h2) {
    if (!r.mapping(f, kHttp2Keys)) {
        return;
    }
    if (const auto v = r.get(f, "h2c")) {
        h2.h2c = r.boolean(*v).value_or(h2.h2c);
    }
    if (const auto v = r.get(f, "max_concurrent_streams")) {
        h2.max_concurrent_streams =
            static_cast<std::uint32_t>(r.integer(*v, 1, 10000).value_or(h2.max_concurrent_streams));
    }
    // RFC 9113 sections 6.5.2 and 6.9.2: a window between the 64 KiB - 1 default and 2^31 - 1.
    const auto window = [&](const char* key, std::uint32_t& out) {
        if (const auto v = r.get(f, key)) {
            if (const auto n = r.size(*v, false)) {
                if (*n < 65535 || *n > 0x7fffffff) {
                    r.error(*v, "between 65535 bytes and 2GiB - 1");
                } else {
                    out = static_cast<std::uint32_t>(*n);
                }
            }
        }
    };
    window("initial_stream_window", h2.initial_stream_window);
    window("connection_window", h2.connection_window);
    if (const auto v = r.get(f, "max_header_list_size")) {
        if (const auto n = r.size(*v, false)) {
            if (*n < 4096 || *n > 16 * 1024 * 1024) {
                r.error(*v, "between 4KiB and 16MiB");
            } else {
                h2.max_header_list_size = static_cast<std::uint32_t>(*n);
            }
        }
    }
}

void read_upstream_tls(Reader& r, const Field& f, const std::string& source, UpstreamTls& tls) {
    if (!f.node.IsMap()) {
        r.error(f, "expected a mapping (ca_file, verify, server_name, client_cert, client_key)");
        return;
    }
    if (!r.mapping(f, kUpstreamTlsKeys)) {
        return;
    }
    if (const auto v = r.get(f, "ca_file")) {
        tls.ca_file = read_path(r, *v, source).value_or("");
    }
    if (const auto v = r.get(f, "verify")) {
        tls.verify = r.boolean(*v).value_or(tls.verify);
    }
    if (const auto v = r.get(f, "server_name")) {
        if (const auto name = r.string(*v)) {
            if (is_valid_hostname(*name)) {
                tls.server_name = *name;
            } else {
                r.error(*v, "invalid server name \"" + *name +
                                "\" (expected a host name or an IP address)");
            }
        }
    }
    const auto cert = r.get(f, "client_cert");
    const auto key = r.get(f, "client_key");
    if (cert) {
        tls.client_cert = read_path(r, *cert, source).value_or("");
    }
    if (key) {
        tls.client_key = read_path(r, *key, source).value_or("");
    }
    if (cert && !key) {
        r.error(*cert, "client_cert needs client_key (the certificate's private key)");
    } else if (key && !cert) {
        r.error(*key, "client_key needs client_cert");
    }
}

}  // namespace

void read_cluster_tls(Reader& r, const Field& cluster_field, const std::string& source,
                      const std::optional<Field>& plain_http, Cluster& cluster) {
    const auto f = r.get(cluster_field, "tls");
    if (!f) {
        return;
    }
    if (!cluster.tls) {
        cluster.tls.emplace();
    }
    read_upstream_tls(r, *f, source, *cluster.tls);
    if (plain_http) {
        r.error(*plain_http, "endpoint \"" + plain_http->node.Scalar() +
                                 "\" is plain HTTP but the cluster has tls (use https:// or "
                                 "host:port)");
    }
}

const std::vector<std::string>& supported_alpn() {
    static const std::vector<std::string> names{"h2", "http/1.1"};
    return names;
}

void read_listener_tls(Reader& r, const Field& item, const std::string& source, Listener& l) {
    const auto tls = r.get(item, "tls");
    if (tls) {
        l.tls.emplace();
        read_tls(r, *tls, source, *l.tls);
    }
    const auto redirect = r.get(item, "redirect_to_https");
    if (redirect) {
        l.redirect_to_https = r.boolean(*redirect).value_or(false);
        if (l.redirect_to_https && tls) {
            r.error(*redirect,
                    "redirect_to_https is for plain listeners (this one has tls: it "
                    "would redirect to itself)");
        }
    }
    if (const auto v = r.get(item, "redirect_https_port")) {
        l.redirect_https_port = static_cast<std::uint16_t>(r.integer(*v, 1, 65535).value_or(443));
        if (!redirect) {
            r.error(*v, "redirect_https_port needs redirect_to_https: true");
        }
    }
    if (const auto v = r.get(item, "http2")) {
        read_http2(r, *v, l.http2);
        if (l.http2.h2c && tls) {
            r.error(*v, "h2c is for plain listeners (TLS listeners offer h2 through tls.alpn)");
        }
    }
    if (const auto v = r.get(item, "hsts")) {
        l.hsts.emplace();
        read_hsts(r, *v, *l.hsts);
        if (!tls) {
            r.error(*v, "hsts needs tls on this listener (browsers ignore it over plain HTTP)");
        }
    }
}

}  // namespace usher::config::detail
