#include "proxy/local_reply.hpp"

#include <charconv>

#include "core/text.hpp"
#include "http/message.hpp"

namespace usher::proxy {

bool prefers_json(std::string_view accept) noexcept {
    auto json = accept.find("application/json");
    if (json == std::string_view::npos) {
        return false;
    }
    auto html = accept.find("text/html");
    auto plain = accept.find("text/plain");
    return (html == std::string_view::npos || html > json) &&
           (plain == std::string_view::npos || plain > json);
}

namespace {
void append_json_string(std::string& out, std::string_view s) {
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out.append("\\u00");
            constexpr char kHex[] = "0123456789abcdef";
            out.push_back(kHex[(c >> 4) & 0xF]);
            out.push_back(kHex[c & 0xF]);
        } else {
            out.push_back(c);
        }
    }
}
}  // namespace

void render_local_reply(const LocalReply& reply, std::string& out) {
    auto reason = http::reason_phrase(reply.status);
    std::string generated;
    std::string_view body = reply.body;
    std::string_view type = reply.content_type;
    if (body.empty() && reply.status >= 300 && reply.status != 304) {
        if (reply.json) {
            generated.append("{\"status\":");
            append_decimal(generated, reply.status);
            generated.append(",\"error\":\"");
            append_json_string(generated, reason);
            generated.append("\"");
            if (!reply.detail.empty()) {
                generated.append(",\"detail\":\"");
                append_json_string(generated, reply.detail);
                generated.append("\"");
            }
            generated.append("}\n");
            type = "application/json";
        } else {
            append_decimal(generated, reply.status);
            generated.push_back(' ');
            generated.append(reason);
            if (!reply.detail.empty()) {
                generated.append(": ");
                generated.append(reply.detail);
            }
            generated.push_back('\n');
            type = "text/plain; charset=utf-8";
        }
        body = generated;
    }
    out.append("HTTP/1.1 ");
    append_decimal(out, reply.status);
    out.push_back(' ');
    out.append(reason);
    out.append("\r\nServer: usher\r\n");
    if (!reply.allow.empty()) {
        out.append("Allow: ");
        out.append(reply.allow);
        out.append("\r\n");
    }
    if (!reply.hsts.empty()) {
        out.append("Strict-Transport-Security: ");
        out.append(reply.hsts);
        out.append("\r\n");
    }
    if (!reply.location.empty()) {
        out.append("Location: ");
        out.append(reply.location);
        out.append("\r\n");
    }
    if (!type.empty() && !body.empty()) {
        out.append("Content-Type: ");
        out.append(type);
        out.append("\r\n");
    }
    if (reply.status >= 200 && reply.status != 204 && reply.status != 304) {
        out.append("Content-Length: ");
        append_decimal(out, body.size());
        out.append("\r\n");
    }
    if (reply.close) {
        out.append("Connection: close\r\n");
    }
    out.append("\r\n");
    if (!reply.head_only && reply.status != 204 && reply.status != 304) {
        out.append(body);
    }
}

}  // namespace usher::proxy
