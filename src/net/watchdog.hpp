#pragma once
// Watchdog: one timer per connection that enforces "the current step must finish by T".
//
// The connection calls arm(duration, cause) before each awaited step and disarm() after it. When a
// deadline passes, the watchdog cancels the registered sockets, so the awaited operation completes
// with operation_aborted; the connection then asks fired() for the cause and answers accordingly
// (408, 504, a silent close...). Re-arming only writes a time point: the timer is re-scheduled
// lazily when it fires early, so the common path costs no timer syscalls.
//
// A total deadline (the route's `total` timeout) caps every step: arm() uses the earlier of the
// two.
#include <chrono>
#include <cstdint>
#include <memory>

#include "core/asio.hpp"

namespace usher::net {

enum class TimeoutCause : std::uint8_t {
    none,
    request_header,   // client sent part of a head, then stalled -> 408
    client_idle,      // keep-alive connection idle -> silent close
    client_body,      // client stalled while sending a body -> 408
    connect,          // upstream connect
    upstream_header,  // upstream response head -> 504
    upstream_idle,    // upstream stalled between body bytes
    client_write,     // client stopped reading (slow reader) beyond the idle limit
    tls_handshake,    // a TLS client did not finish its handshake -> close
    total,            // route's total duration
    client_gone,      // not a deadline: the client went away (HTTP/2 RST_STREAM) -> abandon
};

const char* to_string(TimeoutCause cause) noexcept;

class Watchdog {
  public:
    using Clock = std::chrono::steady_clock;

    explicit Watchdog(const Executor& ex);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    // Sockets cancelled when a deadline passes (either may be null).
    void watch(TcpSocket* client, TcpSocket* upstream) noexcept;
    void watch_upstream(TcpSocket* upstream) noexcept;
    // A timer some step waits on as a condition (an HTTP/2 stream waiting for request body or
    // window): cancelled too when a deadline passes. Null: none.
    void watch_waiter(SteadyTimer* waiter) noexcept;

    // A zero duration means "no limit" for that step (only the total deadline applies).
    void arm(Clock::duration d, TimeoutCause cause);
    // The same with an absolute deadline (a whole request head must arrive by then, however
    // many reads it takes: that is what defeats slowloris). time_point::max() = no limit.
    void arm_until(Clock::time_point when, TimeoutCause cause);
    void disarm() noexcept;

    void set_total(Clock::duration d);  // zero clears it
    void clear_total() noexcept;

    // The cause of the deadline that fired since the last arm(), or none.
    TimeoutCause fired() const noexcept;
    // Cancels the watched sockets and waiter now, as if a deadline with `cause` had passed.
    void fire_now(TimeoutCause cause) noexcept;

  private:
    struct State;
    void schedule(Clock::time_point when);
    static void start_wait(const std::shared_ptr<State>& st, Clock::time_point when);
    static void on_timer(const std::shared_ptr<State>& st);
    std::shared_ptr<State> st_;
};

}  // namespace usher::net
