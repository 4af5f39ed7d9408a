#include "core/units.hpp"

#include <array>
#include <cctype>
#include <limits>

namespace usher {
namespace {

struct Unit {
    std::string_view name;
    std::uint64_t scale;
};

constexpr std::array<Unit, 4> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};

constexpr std::uint64_t kKi = 1024;
constexpr std::array<Unit, 9> kSizeUnits{{{"b", 1},
                                          {"kib", kKi},
                                          {"mib", kKi* kKi},
                                          {"gib", kKi* kKi* kKi},
                                          {"tib", kKi* kKi* kKi* kKi},
                                          {"kb", 1000},
                                          {"mb", 1000 * 1000},
                                          {"gb", 1000 * 1000 * 1000},
                                          {"tb", 1000ULL * 1000 * 1000 * 1000}}};

constexpr int kMaxFractionDigits = 6;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool fail(std::string* error, std::string message) {
    if (error != nullptr) {
        *error = std::move(message);
    }
    return false;
}

// "12" or "1.25" at the front of `s`, consumed. Fails (returns false, sets *error) on a missing
// number, too many decimals or an integer part that overflows 64 bits.
struct Number {
    std::uint64_t whole = 0;
    std::uint64_t fraction = 0;        // digits after the point, as an integer
    std::uint64_t fraction_scale = 1;  // 10^(number of fraction digits)
};

enum class NumberStatus { ok, missing, too_many_decimals, overflow };

NumberStatus take_number(std::string_view& s, Number& n) {
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) {
        const auto digit = static_cast<std::uint64_t>(s[i] - '0');
        if (n.whole > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return NumberStatus::overflow;
        }
        n.whole = n.whole * 10 + digit;
        ++i;
    }
    if (i == 0) {
        return NumberStatus::missing;
    }
    if (i < s.size() && s[i] == '.') {
        std::size_t j = i + 1;
        int digits = 0;
        while (j < s.size() && is_digit(s[j])) {
            if (++digits > kMaxFractionDigits) {
                return NumberStatus::too_many_decimals;
            }
            n.fraction = n.fraction * 10 + static_cast<std::uint64_t>(s[j] - '0');
            n.fraction_scale *= 10;
            ++j;
        }
        if (digits == 0) {
            return NumberStatus::missing;
        }
        i = j;
    }
    s.remove_prefix(i);
    return NumberStatus::ok;
}

// whole * scale + fraction * scale / fraction_scale, or nullopt on overflow / inexact result.
enum class ScaleStatus { ok, overflow, inexact };
ScaleStatus scale_number(const Number& n, std::uint64_t scale, std::uint64_t& out) {
    std::uint64_t whole = 0;
    if (__builtin_mul_overflow(n.whole, scale, &whole)) {
        return ScaleStatus::overflow;
    }
    const std::uint64_t frac = n.fraction * scale;  // < 10^6 * 2^40: fits
    if (frac % n.fraction_scale != 0) {
        return ScaleStatus::inexact;
    }
    if (__builtin_add_overflow(whole, frac / n.fraction_scale, &out)) {
        return ScaleStatus::overflow;
    }
    return ScaleStatus::ok;
}

const Unit* find_unit(std::string_view name, const auto& units, bool case_insensitive) {
    const std::string key = case_insensitive ? lower(name) : std::string(name);
    for (const Unit& u : units) {
        if (u.name == key) {
            return &u;
        }
    }
    return nullptr;
}

// Built by appending: GCC 12 reports a false -Wrestrict for `"literal" + std::string` at -O3.
std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

constexpr std::string_view kDurationUnitHint = "(use ms, s, m or h)";
constexpr std::string_view kSizeUnitHint = "(use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)";

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        fail(error, "empty duration (expected e.g. 250ms, 30s, 5m)");
        return std::nullopt;
    }
    if (s.front() == '-') {
        fail(error, "negative durations are not allowed");
        return std::nullopt;
    }
    if (s == "0") {
        return std::chrono::milliseconds{0};
    }
    std::uint64_t total = 0;
    while (!s.empty()) {
        Number n;
        switch (take_number(s, n)) {
            case NumberStatus::ok:
                break;
            case NumberStatus::missing:
                fail(error,
                     quoted(trim(text)) + " is not a duration (expected e.g. 250ms, 30s, 5m)");
                return std::nullopt;
            case NumberStatus::too_many_decimals:
                fail(error, quoted(trim(text)) + " has too many decimal places");
                return std::nullopt;
            case NumberStatus::overflow:
                fail(error, quoted(trim(text)) + " is too large");
                return std::nullopt;
        }
        s = trim(s);
        std::size_t unit_len = 0;
        while (unit_len < s.size() && std::isalpha(static_cast<unsigned char>(s[unit_len])) != 0) {
            ++unit_len;
        }
        const std::string_view unit_name = s.substr(0, unit_len);
        s.remove_prefix(unit_len);
        s = trim(s);
        if (unit_name.empty()) {
            fail(error,
                 "missing unit in " + quoted(trim(text)) + " " + std::string(kDurationUnitHint));
            return std::nullopt;
        }
        const Unit* unit = find_unit(unit_name, kDurationUnits, false);
        if (unit == nullptr) {
            fail(error, "unknown unit " + quoted(unit_name) + " " + std::string(kDurationUnitHint));
            return std::nullopt;
        }
        std::uint64_t part = 0;
        switch (scale_number(n, unit->scale, part)) {
            case ScaleStatus::ok:
                break;
            case ScaleStatus::inexact:
                fail(error, quoted(trim(text)) + " is not a whole number of milliseconds");
                return std::nullopt;
            case ScaleStatus::overflow:
                fail(error, quoted(trim(text)) + " is too large");
                return std::nullopt;
        }
        if (__builtin_add_overflow(total, part, &total)) {
            fail(error, quoted(trim(text)) + " is too large");
            return std::nullopt;
        }
    }
    using Rep = std::chrono::milliseconds::rep;
    if (total > static_cast<std::uint64_t>(std::numeric_limits<Rep>::max())) {
        fail(error, quoted(trim(text)) + " is too large");
        return std::nullopt;
    }
    return std::chrono::milliseconds{static_cast<Rep>(total)};
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        fail(error, "empty size (expected e.g. 512, 16KiB, 10MiB)");
        return std::nullopt;
    }
    if (s.front() == '-') {
        fail(error, "negative sizes are not allowed");
        return std::nullopt;
    }
    Number n;
    switch (take_number(s, n)) {
        case NumberStatus::ok:
            break;
        case NumberStatus::missing:
            fail(error, quoted(trim(text)) + " is not a size (expected e.g. 512, 16KiB, 10MiB)");
            return std::nullopt;
        case NumberStatus::too_many_decimals:
            fail(error, quoted(trim(text)) + " has too many decimal places");
            return std::nullopt;
        case NumberStatus::overflow:
            fail(error, quoted(trim(text)) + " is too large");
            return std::nullopt;
    }
    const std::string_view unit_name = trim(s);
    std::uint64_t scale = 1;
    if (!unit_name.empty()) {
        const Unit* unit = find_unit(unit_name, kSizeUnits, true);
        if (unit == nullptr) {
            const std::string l = lower(unit_name);
            if (l == "k" || l == "m" || l == "g" || l == "t") {
                const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(l[0])));
                fail(error, "ambiguous unit " + quoted(unit_name) + " (write " + u +
                                "iB for powers of 1024 or " + u + "B for powers of 1000)");
            } else {
                fail(error, "unknown unit " + quoted(unit_name) + " " + std::string(kSizeUnitHint));
            }
            return std::nullopt;
        }
        scale = unit->scale;
    }
    std::uint64_t bytes = 0;
    switch (scale_number(n, scale, bytes)) {
        case ScaleStatus::ok:
            return bytes;
        case ScaleStatus::inexact:
            fail(error, quoted(trim(text)) + " is not a whole number of bytes");
            return std::nullopt;
        case ScaleStatus::overflow:
            break;
    }
    fail(error, quoted(trim(text)) + " is too large");
    return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms == 0) {
        return "0";
    }
    if (ms < 0) {
        std::string out = "-";
        out += format_duration(std::chrono::milliseconds{-ms});
        return out;
    }
    for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
        const auto scale = static_cast<std::chrono::milliseconds::rep>(it->scale);
        if (ms % scale == 0) {
            return std::to_string(ms / scale) + std::string(it->name);
        }
    }
    return std::to_string(ms) + "ms";  // not reached: scale 1 always divides
}

std::string format_size(std::uint64_t bytes) {
    if (bytes == 0) {
        return "0";
    }
    static constexpr std::array<std::string_view, 4> kNames{"TiB", "GiB", "MiB", "KiB"};
    std::uint64_t scale = kKi * kKi * kKi * kKi;
    for (std::string_view name : kNames) {
        if (bytes % scale == 0) {
            return std::to_string(bytes / scale) + std::string(name);
        }
        scale /= kKi;
    }
    return std::to_string(bytes);
}

}  // namespace usher
