#pragma once
// Small allocation-free text helpers shared by the serializers and logs.
#include <charconv>
#include <cstdint>
#include <string>

namespace usher {

// Appends the decimal digits of `v` (no allocation beyond `out`'s growth).
inline void append_decimal(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

}  // namespace usher
