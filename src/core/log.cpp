#include "core/log.hpp"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace usher::log {
namespace detail {

std::atomic<Level> g_level{Level::info};
namespace {
thread_local int t_worker_id = -1;
}

void append(std::string& out, std::string_view v) {
    out.append(v);
}
void append(std::string& out, const char* v) {
    out.append(v ? v : "(null)");
}
void append(std::string& out, const std::string& v) {
    out.append(v);
}
void append(std::string& out, bool v) {
    out.append(v ? "true" : "false");
}
void append(std::string& out, long long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}
void append(std::string& out, unsigned long long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}
void append(std::string& out, double v) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%.3f", v);
    out.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
}

void write(Level level, std::string_view message) noexcept {
    static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error", "off"};
    try {
        auto now = std::chrono::system_clock::now();
        auto secs = std::chrono::system_clock::to_time_t(now);
        auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
        std::tm tm{};
        gmtime_r(&secs, &tm);
        char stamp[64];
        std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      static_cast<int>(ms.count()));
        std::string line;
        line.reserve(message.size() + 64);
        line.append(stamp);
        line.push_back(' ');
        line.append(kNames[static_cast<int>(level)]);
        line.append(t_worker_id < 0 ? " [main] " : " [w");
        if (t_worker_id >= 0) {
            append(line, static_cast<long long>(t_worker_id));
            line.append("] ");
        }
        line.append(message);
        line.push_back('\n');
        std::size_t off = 0;
        while (off < line.size()) {
            ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
            if (n <= 0) {
                break;
            }
            off += static_cast<std::size_t>(n);
        }
    } catch (...) {
        // Logging never throws into the data path.
    }
}

void set_worker(int id) noexcept {
    t_worker_id = id;
}

}  // namespace detail

void set_level(Level l) noexcept {
    detail::g_level.store(l, std::memory_order_relaxed);
}
Level level() noexcept {
    return detail::g_level.load(std::memory_order_relaxed);
}
void set_worker_id(int id) noexcept {
    detail::set_worker(id);
}

bool parse_level(std::string_view text, Level& out) noexcept {
    static constexpr std::pair<std::string_view, Level> kLevels[] = {
        {"trace", Level::trace}, {"debug", Level::debug}, {"info", Level::info},
        {"warn", Level::warn},   {"error", Level::error}, {"off", Level::off}};
    for (auto [name, l] : kLevels) {
        if (name == text) {
            out = l;
            return true;
        }
    }
    return false;
}

void failure(std::string_view what, const std::exception_ptr& e) noexcept {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        error("{} failed: {}", what, ex.what());
    } catch (...) {
        error("{} failed: unknown exception", what);
    }
}

}  // namespace usher::log
