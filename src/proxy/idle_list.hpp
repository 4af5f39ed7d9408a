#pragma once
// IdleList: a worker's parked keep-alive connections, ordered by deadline, and the one timer that
// closes them when their idle time is up.
//
// A parked connection is only its ClientConnection record (about 80 bytes) and its descriptor
// in the worker's ParkPoller: no coroutine frame, no read buffer, no per-request state, no Asio
// reactor state, no timer of its own. That is what keeps 10,000 idle keep-alive clients within
// about a MiB. The entries form a binary min-heap on their deadlines (each entry knows its slot, so
// leaving is O(log n) too): deadlines stay exact whatever order connections park in, after a
// reload changed the idle timeout, or with no timeout at all. The timer is armed for the earliest
// deadline and re-armed lazily when it fires.
#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "core/asio.hpp"

namespace usher::proxy {

class IdleList;

// What a parked connection carries (ClientConnection derives from it).
class IdleEntry {
  public:
    using Clock = std::chrono::steady_clock;

  protected:
    IdleEntry() = default;
    virtual ~IdleEntry() = default;
    // Called by the list when the deadline passed: the entry was removed already.
    virtual void idle_expired() noexcept = 0;

  private:
    friend class IdleList;
    IdleList* list_ = nullptr;  // non-null while parked
    std::size_t slot_ = 0;      // index in the list's heap
    Clock::time_point deadline_{};
};

class IdleList {
  public:
    using Clock = IdleEntry::Clock;

    IdleList() = default;
    IdleList(const IdleList&) = delete;
    IdleList& operator=(const IdleList&) = delete;

    // Parks `e` until `deadline` (time_point::max(): no limit). `ex` runs the list's timer.
    void push(IdleEntry& e, Clock::time_point deadline, const Executor& ex);
    // Unparks `e` (no-op when it is not parked).
    static void remove(IdleEntry& e) noexcept;
    std::size_t size() const noexcept { return heap_.size(); }
    // Expires every entry now, then drops the timer and never arms it again (before the
    // io_context it belongs to goes away).
    void close_all() noexcept;

  private:
    void erase(std::size_t slot) noexcept;
    void sift_up(std::size_t slot) noexcept;
    void sift_down(std::size_t slot) noexcept;
    void place(IdleEntry* e, std::size_t slot) noexcept;
    void arm(const Executor& ex);
    void on_timer();

    std::vector<IdleEntry*> heap_;
    std::optional<SteadyTimer> timer_;
    Clock::time_point armed_for_ = Clock::time_point::max();  // max: not waiting
    bool stopped_ = false;
};

}  // namespace usher::proxy
