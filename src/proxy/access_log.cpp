#include "proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "core/log.hpp"
#include "core/text.hpp"

namespace usher::proxy {
namespace {

void append_seconds(std::string& out, double s) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.3f", s);
    out.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
}

// Escapes for a quoted field of the combined format ('"' and control bytes become \xHH).
void append_escaped(std::string& out, std::string_view s, bool json) {
    constexpr char kHex[] = "0123456789abcdef";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            out.append(json ? "\\u00" : "\\x");
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0xF]);
        } else {
            out.push_back(c);
        }
    }
}

void append_dash_or(std::string& out, std::string_view s) {
    if (s.empty()) {
        out.push_back('-');
    } else {
        append_escaped(out, s, false);
    }
}

}  // namespace

AccessLog::AccessLog(const config::AccessLog& cfg, asio::io_context& io)
    : cfg_(cfg), timer_(io.get_executor()) {
    buffer_.reserve(limits::kAccessLogBuffer + 4096);
    reopen();
}

AccessLog::~AccessLog() {
    flush();
    if (owns_fd_ && fd_ >= 0) {
        ::close(fd_);
    }
}

void AccessLog::reopen() {
    flush();
    if (cfg_.path == "-") {
        fd_ = STDOUT_FILENO;
        owns_fd_ = false;
        return;
    }
    int fd = ::open(cfg_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        std::string msg = "cannot open access log " + cfg_.path + ": " + std::strerror(errno);
        if (fd_ >= 0) {
            log::error("{} (keeping the old file)", msg);  // at reopen: keep logging somewhere
            return;
        }
        throw std::runtime_error(msg);
    }
    if (owns_fd_ && fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
    owns_fd_ = true;
}

void AccessLog::flush() noexcept {
    std::size_t off = 0;
    while (off < buffer_.size() && fd_ >= 0) {
        ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;  // disk full or closed pipe: drop the batch rather than block a worker
        }
        off += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

void AccessLog::start() {
    running_ = true;
    schedule_flush();
}

void AccessLog::stop() noexcept {
    running_ = false;
    timer_.cancel();
    flush();
}

void AccessLog::schedule_flush() {
    timer_.expires_after(limits::kAccessLogFlushInterval);
    timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || !running_) {
            return;
        }
        flush();
        schedule_flush();
    });
}

void AccessLog::record(const AccessEntry& e) {
    if (cfg_.format == config::AccessLogFormat::json) {
        format_json(e);
    } else {
        format_combined(e);
    }
    if (buffer_.size() >= limits::kAccessLogBuffer) {
        flush();
    }
}

void AccessLog::format_combined(const AccessEntry& e) {
    auto secs = std::chrono::system_clock::to_time_t(e.start);
    if (secs != cached_second_) {
        std::tm tm{};
        localtime_r(&secs, &tm);
        char buf[64];
        auto n = std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S %z", &tm);
        cached_time_.assign(buf, n);
        cached_second_ = secs;
    }
    auto& b = buffer_;
    b.append(e.remote_addr);
    b.append(" - - [");
    b.append(cached_time_);
    b.append("] \"");
    append_escaped(b, e.method, false);
    b.push_back(' ');
    append_escaped(b, e.path, false);
    b.push_back(' ');
    b.append(e.version);
    b.append("\" ");
    append_decimal(b, e.status);
    b.push_back(' ');
    append_decimal(b, e.bytes_out);
    b.append(" \"");
    append_dash_or(b, e.referer);
    b.append("\" \"");
    append_dash_or(b, e.user_agent);
    b.append("\" in=");
    append_decimal(b, e.bytes_in);
    b.append(" route=");
    append_dash_or(b, e.route);
    b.append(" cluster=");
    append_dash_or(b, e.cluster);
    b.append(" upstream=");
    append_dash_or(b, e.upstream);
    b.append(" rt=");
    append_seconds(b, e.total_s);
    b.append(" uct=");
    if (e.connect_s < 0) {
        b.push_back('-');
    } else {
        append_seconds(b, e.connect_s);
    }
    b.append(" uht=");
    if (e.first_byte_s < 0) {
        b.push_back('-');
    } else {
        append_seconds(b, e.first_byte_s);
    }
    if (!e.cause.empty()) {
        b.append(" cause=");
        b.append(e.cause);
    }
    b.push_back('\n');
}

void AccessLog::format_json(const AccessEntry& e) {
    auto& b = buffer_;
    auto str = [&](std::string_view key, std::string_view v, bool first = false) {
        if (!first) {
            b.push_back(',');
        }
        b.push_back('"');
        b.append(key);
        b.append("\":\"");
        append_escaped(b, v, true);
        b.push_back('"');
    };
    auto num = [&](std::string_view key, std::uint64_t v) {
        b.append(",\"");
        b.append(key);
        b.append("\":");
        append_decimal(b, v);
    };
    auto secs = [&](std::string_view key, double v) {
        b.append(",\"");
        b.append(key);
        b.append("\":");
        if (v < 0) {
            b.append("null");
        } else {
            append_seconds(b, v);
        }
    };
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(e.start.time_since_epoch());
    b.append("{\"time\":");
    append_seconds(b, static_cast<double>(ms.count()) / 1000.0);
    b.push_back(',');
    str("remote_addr", e.remote_addr, true);
    str("method", e.method);
    str("path", e.path);
    str("protocol", e.version);
    str("host", e.host);
    num("status", e.status);
    num("bytes_in", e.bytes_in);
    num("bytes_out", e.bytes_out);
    str("referer", e.referer);
    str("user_agent", e.user_agent);
    str("route", e.route);
    str("cluster", e.cluster);
    str("upstream", e.upstream);
    if (!e.client_subject.empty()) {
        str("client_subject", e.client_subject);
    }
    secs("duration", e.total_s);
    secs("upstream_connect", e.connect_s);
    secs("upstream_first_byte", e.first_byte_s);
    if (!e.cause.empty()) {
        str("cause", e.cause);
    }
    b.append("}\n");
}

}  // namespace usher::proxy
