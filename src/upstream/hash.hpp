#pragma once
// Small, allocation-free hashing and randomness for the balancers (per worker, never shared).
#include <cstdint>
#include <string_view>

namespace usher::upstream {

// FNV-1a over the bytes, then a splitmix64 finalizer so that nearby keys ("a1", "a2") land far
// apart on a ring or a Maglev table. Stable across runs and machines (cookies depend on it).
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

constexpr std::uint64_t hash_bytes(std::string_view s, std::uint64_t seed = 0) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

// splitmix64: fast, good enough to choose between endpoints, not for anything secret.
class Random {
  public:
    explicit Random(std::uint64_t seed = 0x9e3779b97f4a7c15ULL) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        state_ += 0x9e3779b97f4a7c15ULL;
        return mix64(state_);
    }
    // Uniform in [0, n) for n > 0 (the modulo bias is below 2^-40 for the sizes used here).
    std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

  private:
    std::uint64_t state_;
};

}  // namespace usher::upstream
