#include "proxy/forward_headers.hpp"

#include <array>
#include <charconv>

#include "core/text.hpp"

namespace usher::proxy {
namespace {

using http::iequals;

// The tokens of every Connection field, bounded (extra tokens beyond the bound are still removed
// by the fixed hop-by-hop list; a client naming 33 headers in Connection is not our problem).
struct ConnectionTokens {
    std::array<std::string_view, 32> tokens{};
    std::size_t count = 0;
    bool contains(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < count; ++i) {
            if (iequals(tokens[i], name)) {
                return true;
            }
        }
        return false;
    }
};

ConnectionTokens connection_tokens(const http::HeaderMap& headers) {
    ConnectionTokens t;
    for (const auto& f : headers) {
        if (!iequals(f.name, "connection")) {
            continue;
        }
        std::string_view v = f.value;
        while (!v.empty()) {
            auto comma = v.find(',');
            auto tok = v.substr(0, comma);
            while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) {
                tok.remove_prefix(1);
            }
            while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) {
                tok.remove_suffix(1);
            }
            if (!tok.empty() && t.count < t.tokens.size()) {
                t.tokens[t.count++] = tok;
            }
            v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
        }
    }
    return t;
}

bool is_hop_by_hop(std::string_view name) noexcept {
    return iequals(name, "connection") || iequals(name, "keep-alive") ||
           iequals(name, "proxy-connection") || iequals(name, "transfer-encoding") ||
           iequals(name, "te") || iequals(name, "upgrade");
}

bool te_has_trailers(const http::HeaderMap& headers) noexcept {
    for (const auto& f : headers) {
        if (iequals(f.name, "te") && f.value.find("trailers") != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

bool listed(const std::vector<std::string>& names, std::string_view name) noexcept {
    for (const auto& n : names) {
        if (iequals(n, name)) {
            return true;
        }
    }
    return false;
}

bool set_names(const config::HeaderEdits& edits, std::string_view name) noexcept {
    for (const auto& [n, v] : edits.set) {
        if (iequals(n, name)) {
            return true;
        }
    }
    return false;
}

void field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

// "HTTP/1.1 200 OK\r\n": always 1.1 towards the client; the backend's reason, or the standard one.
void write_status_line(const http::ResponseHead& resp, std::string& out) {
    out.append("HTTP/1.1 ");
    append_decimal(out, resp.status);
    out.push_back(' ');
    out.append(resp.reason.empty() ? http::reason_phrase(resp.status) : resp.reason);
    out.append("\r\n");
}

void apply_edits(const config::HeaderEdits& edits, std::string& out) {
    for (const auto& [n, v] : edits.set) {
        field(out, n, v);
    }
    for (const auto& [n, v] : edits.add) {
        field(out, n, v);
    }
}

// Joins every value of `name` with ", " (list-valued fields such as X-Forwarded-For).
void join_values(const http::HeaderMap& headers, std::string_view name, std::string& out) {
    for (const auto& f : headers) {
        if (iequals(f.name, name)) {
            if (!out.empty() && out.back() != ' ') {
                out.append(", ");  // a previous value of this field was appended
            }
            out.append(f.value);
        }
    }
}

void append_forwarded_field(std::string& out, const http::RequestHead& req,
                            const UpstreamHeadParams& p) {
    out.append("Forwarded: ");
    std::size_t values = out.size();
    if (p.trusted_client) {
        for (const auto& f : req.headers) {
            if (iequals(f.name, "forwarded")) {
                if (out.size() > values) {
                    out.append(", ");
                }
                out.append(f.value);
            }
        }
        if (out.size() > values) {
            out.append(", ");
        }
    }
    bool v6 = p.client_ip.find(':') != std::string_view::npos;
    out.append(v6 ? "for=\"[" : "for=");
    out.append(p.client_ip);
    out.append(v6 ? "]\"" : "");
    if (!req.authority.empty()) {
        out.append(";host=\"");
        out.append(req.authority);
        out.append("\"");
    }
    out.append(";proto=");
    out.append(p.scheme);
    out.append("\r\n");
}

}  // namespace

std::string_view filter_trailers(std::string_view raw, std::string& out) {
    out.clear();
    while (!raw.empty()) {
        auto end = raw.find("\r\n");
        auto line = raw.substr(0, end == std::string_view::npos ? raw.size() : end + 2);
        raw.remove_prefix(line.size());
        auto name = line.substr(0, line.find(':'));
        if (is_hop_by_hop(name) || iequals(name, "content-length") || iequals(name, "host") ||
            iequals(name, "trailer") || iequals(name, "expect") || iequals(name, "range") ||
            iequals(name, "content-type") || iequals(name, "content-encoding") ||
            iequals(name, "authorization") || iequals(name, "set-cookie") ||
            iequals(name, "cookie")) {
            continue;
        }
        out.append(line);
    }
    return out;
}

bool rewrite_path(const config::Rewrite& rewrite, std::string_view path, std::string& out) {
    if (!rewrite.strip_prefix) {
        return false;
    }
    const auto& prefix = *rewrite.strip_prefix;
    if (!path.starts_with(prefix)) {
        return false;
    }
    auto rest = path.substr(prefix.size());
    out.clear();
    out.append(rewrite.replace_prefix ? *rewrite.replace_prefix : std::string_view{});
    if (!out.empty() && out.back() == '/' && rest.starts_with('/')) {
        rest.remove_prefix(1);
    }
    out.append(rest);
    if (out.empty() || (out.front() != '/')) {
        out.insert(out.begin(), '/');
    }
    return true;
}

void write_upstream_head(const http::RequestHead& req, const UpstreamHeadParams& p,
                         std::string& out) {
    const auto* route = p.route;
    const auto& opts = *p.options;
    auto conn = connection_tokens(req.headers);

    out.append(req.method);
    out.push_back(' ');
    out.append(p.path);
    out.append(" HTTP/1.1\r\n");

    // Host first, as RFC 9112 suggests.
    std::string_view host = req.authority;
    if (route != nullptr && route->rewrite.host) {
        host = *route->rewrite.host;
    } else if (!opts.preserve_host || host.empty()) {
        host = p.upstream_host;
    }
    field(out, "Host", host);

    for (const auto& f : req.headers) {
        const auto& n = f.name;
        if (is_hop_by_hop(n) || conn.contains(n) || iequals(n, "host") ||
            iequals(n, "content-length") || iequals(n, "expect") || iequals(n, "via") ||
            iequals(n, "x-forwarded-for") || iequals(n, "x-forwarded-proto") ||
            iequals(n, "x-forwarded-host") || iequals(n, "forwarded")) {
            continue;
        }
        if (route != nullptr &&
            (listed(route->request_headers.remove, n) || set_names(route->request_headers, n))) {
            continue;
        }
        field(out, n, f.value);
    }

    // X-Forwarded-*: a trusted proxy's values are kept and extended; anyone else's are replaced.
    out.append("X-Forwarded-For: ");
    if (p.trusted_client) {
        auto before = out.size();
        join_values(req.headers, "x-forwarded-for", out);
        if (out.size() > before) {
            out.append(", ");
        }
    }
    out.append(p.client_ip);
    out.append("\r\n");
    const http::HeaderField* xfp =
        p.trusted_client ? req.headers.find("x-forwarded-proto") : nullptr;
    field(out, "X-Forwarded-Proto", xfp ? xfp->value : p.scheme);
    const http::HeaderField* xfh =
        p.trusted_client ? req.headers.find("x-forwarded-host") : nullptr;
    if (xfh != nullptr || !req.authority.empty()) {
        field(out, "X-Forwarded-Host", xfh ? xfh->value : req.authority);
    }
    if (opts.forwarded) {
        append_forwarded_field(out, req, p);
    }
    if (opts.via) {
        out.append("Via: ");
        auto before = out.size();
        join_values(req.headers, "via", out);
        if (out.size() > before) {
            out.append(", ");
        }
        out.append(req.version == http::Version::http10 ? "1.0 usher\r\n" : "1.1 usher\r\n");
    }

    switch (req.framing) {
        case http::BodyFraming::content_length:
            out.append("Content-Length: ");
            append_decimal(out, req.content_length);
            out.append("\r\n");
            break;
        case http::BodyFraming::chunked:
            out.append("Transfer-Encoding: chunked\r\n");
            break;
        default:
            break;
    }
    if (te_has_trailers(req.headers)) {
        out.append("TE: trailers\r\n");
    }
    if (p.upgrade) {
        if (const auto* up = req.headers.find("upgrade")) {
            field(out, "Upgrade", up->value);
        }
        out.append("Connection: upgrade\r\n");
    }
    if (route != nullptr) {
        apply_edits(route->request_headers, out);
    }
    out.append("\r\n");
}

void write_downstream_head(const http::ResponseHead& resp, const DownstreamHeadParams& p,
                           std::string& out) {
    const auto* route = p.route;
    const auto& opts = *p.options;
    auto conn = connection_tokens(resp.headers);

    write_status_line(resp, out);
    for (const auto& f : resp.headers) {
        const auto& n = f.name;
        // A bodiless answer to HEAD, or a 304, keeps the backend's Content-Length as it is.
        bool keep_length =
            p.framing == http::BodyFraming::none && (p.head_request || resp.status == 304);
        if (is_hop_by_hop(n) || conn.contains(n) ||
            (iequals(n, "content-length") && !keep_length)) {
            continue;
        }
        if (listed(opts.hide_response_headers, n) ||
            (!p.hsts.empty() && iequals(n, "strict-transport-security"))) {
            continue;
        }
        if (route != nullptr &&
            (listed(route->response_headers.remove, n) || set_names(route->response_headers, n))) {
            continue;
        }
        field(out, n, f.value);
    }
    if (p.upgrade) {
        if (const auto* up = resp.headers.find("upgrade")) {
            field(out, "Upgrade", up->value);
        }
        out.append("Connection: upgrade\r\n");
    } else {
        if (p.framing == http::BodyFraming::content_length) {
            out.append("Content-Length: ");
            append_decimal(out, resp.content_length);
            out.append("\r\n");
        } else if (p.framing == http::BodyFraming::chunked) {
            out.append("Transfer-Encoding: chunked\r\n");
        }
        if (!p.keep_alive) {
            out.append("Connection: close\r\n");
        } else if (p.client_http10) {
            out.append("Connection: keep-alive\r\n");
        }
    }
    if (!p.set_cookie.empty()) {
        field(out, "Set-Cookie", p.set_cookie);
    }
    if (!p.hsts.empty()) {
        field(out, "Strict-Transport-Security", p.hsts);
    }
    if (route != nullptr) {
        apply_edits(route->response_headers, out);
    }
    out.append("\r\n");
}

void trailer_fields(std::string_view lines, http::HeaderMap& out) {
    out.clear();
    while (!lines.empty()) {
        const auto eol = lines.find("\r\n");
        const std::string_view line = lines.substr(0, eol);
        lines = eol == std::string_view::npos ? std::string_view{} : lines.substr(eol + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            continue;
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        out.add(line.substr(0, colon), value);
    }
}

void write_interim_head(const http::ResponseHead& resp, std::string& out) {
    auto conn = connection_tokens(resp.headers);
    write_status_line(resp, out);
    for (const auto& f : resp.headers) {
        if (!is_hop_by_hop(f.name) && !conn.contains(f.name)) {
            field(out, f.name, f.value);
        }
    }
    out.append("\r\n");
}

}  // namespace usher::proxy
