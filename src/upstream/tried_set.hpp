#pragma once
// The endpoints that already failed one request (so a retry picks another). Small and
// allocation-free for clusters of up to 64 endpoints; larger indices wrap (a retry might then
// revisit an endpoint, which is harmless).
#include <cstddef>
#include <cstdint>

namespace usher::upstream {

class TriedSet {
  public:
    void add(std::size_t index) noexcept { bits_ |= bit(index); }
    bool contains(std::size_t index) const noexcept { return (bits_ & bit(index)) != 0; }
    bool empty() const noexcept { return bits_ == 0; }

  private:
    static std::uint64_t bit(std::size_t i) noexcept { return std::uint64_t{1} << (i % 64); }
    std::uint64_t bits_ = 0;
};

}  // namespace usher::upstream
