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

// What a parked connection carries (ClientConnection derives from it). Not polymorphic: the list
// tells an entry it expired through the function given at construction (no vtable pointer in
// every connection, and no dynamic type checks in the sanitizer build, which need free file
// descriptors to probe memory and fail exactly when a worker is out of them).
class IdleEntry {
  public:
    using Clock = std::chrono::steady_clock;
    // Called by the list when the deadline passed: the entry was removed already.
    using Expired = void (*)(IdleEntry& e) noexcept;

  protected:
    explicit IdleEntry(Expired on_expired) noexcept : on_expired_(on_expired) {}
    ~IdleEntry() = default;
    IdleEntry(const IdleEntry&) = delete;
    IdleEntry& operator=(const IdleEntry&) = delete;

  private:
    friend class IdleList;
    Expired on_expired_;
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
