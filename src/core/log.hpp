#pragma once
// Leveled logging: one line per event to stderr, prefixed with time, level and the worker id.
//   log::info("listening on {}", addr);
// `{}` placeholders take strings, string_views, integers, floating point and bool. Messages below
// the current level cost one relaxed atomic load. Each line is written with a single write(2), so
// lines from several workers never interleave.
#include <atomic>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>

namespace usher::log {

enum class Level : std::uint8_t { trace, debug, info, warn, error, off };

void set_level(Level level) noexcept;
Level level() noexcept;
inline bool enabled(Level l) noexcept;
// Parses "trace|debug|info|warn|error|off".
bool parse_level(std::string_view text, Level& out) noexcept;

// The worker id shown in each line ("main" when unset, i.e. -1).
void set_worker_id(int id) noexcept;

namespace detail {
extern std::atomic<Level> g_level;
void append(std::string& out, std::string_view v);
void append(std::string& out, const char* v);
void append(std::string& out, const std::string& v);
void append(std::string& out, bool v);
void append(std::string& out, long long v);
void append(std::string& out, unsigned long long v);
void append(std::string& out, double v);
template <class T>
void append_any(std::string& out, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        append(out, v);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
        append(out, static_cast<long long>(v));
    } else if constexpr (std::is_integral_v<T>) {
        append(out, static_cast<unsigned long long>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        append(out, static_cast<double>(v));
    } else {
        append(out, v);
    }
}
// Substitutes each `{}` in fmt with the next argument.
template <class... Args>
std::string format(std::string_view fmt, const Args&... args) {
    std::string out;
    out.reserve(fmt.size() + 32);
    [[maybe_unused]] auto one = [&](const auto& arg) {
        auto pos = fmt.find("{}");
        if (pos == std::string_view::npos) {
            return;
        }
        out.append(fmt.substr(0, pos));
        append_any(out, arg);
        fmt.remove_prefix(pos + 2);
    };
    (one(args), ...);
    out.append(fmt);
    return out;
}
void write(Level level, std::string_view message) noexcept;
void set_worker(int id) noexcept;
}  // namespace detail

inline bool enabled(Level l) noexcept {
    return l >= detail::g_level.load(std::memory_order_relaxed);
}

template <class... Args>
void emit(Level l, std::string_view fmt, const Args&... args) {
    if (enabled(l)) {
        detail::write(l, detail::format(fmt, args...));
    }
}
template <class... Args>
void trace(std::string_view fmt, const Args&... args) {
    emit(Level::trace, fmt, args...);
}
template <class... Args>
void debug(std::string_view fmt, const Args&... args) {
    emit(Level::debug, fmt, args...);
}
template <class... Args>
void info(std::string_view fmt, const Args&... args) {
    emit(Level::info, fmt, args...);
}
template <class... Args>
void warn(std::string_view fmt, const Args&... args) {
    emit(Level::warn, fmt, args...);
}
template <class... Args>
void error(std::string_view fmt, const Args&... args) {
    emit(Level::error, fmt, args...);
}

// For co_spawn completion handlers: an exception that escaped a coroutine is logged as the error
// "<what> failed: <reason>"; a null pointer (it finished normally) logs nothing.
void failure(std::string_view what, const std::exception_ptr& e) noexcept;

}  // namespace usher::log
