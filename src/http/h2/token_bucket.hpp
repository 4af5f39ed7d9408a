#pragma once
// TokenBucket: the rate limit behind ServerSession's defences (rapid reset, frame floods).
// Internal to src/http/h2. Starts full; refills `per_second` tokens per second up to `burst`;
// credit() refunds tokens for useful work (a stream opened, DATA moved). A burst of 0 disables it.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace usher::http::h2 {

class TokenBucket {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;

    TokenBucket(std::uint32_t burst, std::uint32_t per_second, TimePoint now) noexcept
        : burst_(burst), per_second_(per_second), tokens_(burst), last_(now) {}

    // Takes one token. Returns false when none is left (the limit is exceeded).
    bool take(TimePoint now) noexcept {
        if (burst_ == 0) {
            return true;
        }
        refill(now);
        if (tokens_ < 1.0) {
            return false;
        }
        tokens_ -= 1.0;
        return true;
    }

    void credit(double tokens) noexcept {
        tokens_ = std::min(static_cast<double>(burst_), tokens_ + tokens);
    }

    double tokens() const noexcept { return tokens_; }

  private:
    void refill(TimePoint now) noexcept {
        if (now <= last_) {
            return;
        }
        const std::chrono::duration<double> elapsed = now - last_;
        last_ = now;
        credit(elapsed.count() * per_second_);
    }

    std::uint32_t burst_;
    std::uint32_t per_second_;
    double tokens_;
    TimePoint last_;
};

}  // namespace usher::http::h2
