#include "net/watchdog.hpp"

namespace usher::net {

const char* to_string(TimeoutCause cause) noexcept {
    switch (cause) {
        case TimeoutCause::none:
            return "none";
        case TimeoutCause::request_header:
            return "request_header_timeout";
        case TimeoutCause::client_idle:
            return "client_idle_timeout";
        case TimeoutCause::client_body:
            return "client_body_timeout";
        case TimeoutCause::connect:
            return "connect_timeout";
        case TimeoutCause::upstream_header:
            return "upstream_header_timeout";
        case TimeoutCause::upstream_idle:
            return "upstream_idle_timeout";
        case TimeoutCause::client_write:
            return "client_write_timeout";
        case TimeoutCause::total:
            return "total_timeout";
        case TimeoutCause::tls_handshake:
            return "tls_handshake_timeout";
        case TimeoutCause::client_gone:
            return "client_closed";
    }
    return "unknown";
}

struct Watchdog::State {
    explicit State(const Executor& ex) : timer(ex) {}
    SteadyTimer timer;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point total = Clock::time_point::max();
    Clock::time_point scheduled = Clock::time_point::max();  // when the pending wait expires
    TimeoutCause cause = TimeoutCause::none;
    TimeoutCause fired = TimeoutCause::none;
    TcpSocket* client = nullptr;
    TcpSocket* upstream = nullptr;
    SteadyTimer* waiter = nullptr;
    bool waiting = false;
    bool closed = false;
};

Watchdog::Watchdog(const Executor& ex) : st_(std::make_shared<State>(ex)) {}

Watchdog::~Watchdog() {
    st_->closed = true;
    st_->client = nullptr;
    st_->upstream = nullptr;
    st_->waiter = nullptr;
    st_->timer.cancel();
}

void Watchdog::watch(TcpSocket* client, TcpSocket* upstream) noexcept {
    st_->client = client;
    st_->upstream = upstream;
}

void Watchdog::watch_upstream(TcpSocket* upstream) noexcept {
    st_->upstream = upstream;
}

void Watchdog::watch_waiter(SteadyTimer* waiter) noexcept {
    st_->waiter = waiter;
}

void Watchdog::arm(Clock::duration d, TimeoutCause cause) {
    arm_until(d.count() > 0 ? Clock::now() + d : Clock::time_point::max(), cause);
}

void Watchdog::arm_until(Clock::time_point when, TimeoutCause cause) {
    auto& st = *st_;
    st.fired = TimeoutCause::none;
    st.cause = cause;
    if (st.total < when) {
        when = st.total;
        st.cause = TimeoutCause::total;
    }
    st.deadline = when;
    if (when != Clock::time_point::max() && (!st.waiting || st.scheduled > when)) {
        schedule(when);
    }
}

void Watchdog::disarm() noexcept {
    st_->deadline = Clock::time_point::max();
}

void Watchdog::set_total(Clock::duration d) {
    st_->total = d.count() > 0 ? Clock::now() + d : Clock::time_point::max();
}

void Watchdog::clear_total() noexcept {
    st_->total = Clock::time_point::max();
}

TimeoutCause Watchdog::fired() const noexcept {
    return st_->fired;
}

void Watchdog::fire_now(TimeoutCause cause) noexcept {
    auto& st = *st_;
    st.fired = cause;
    st.deadline = Clock::time_point::max();
    asio::error_code ignored;
    if (st.client != nullptr) {
        st.client->cancel(ignored);
    }
    if (st.upstream != nullptr) {
        st.upstream->cancel(ignored);
    }
    if (st.waiter != nullptr) {
        st.waiter->cancel();
    }
}

void Watchdog::schedule(Clock::time_point when) {
    start_wait(st_, when);
}

void Watchdog::start_wait(const std::shared_ptr<State>& st, Clock::time_point when) {
    st->scheduled = when;
    st->waiting = true;
    st->timer.expires_at(when);  // cancels a pending wait, whose handler then sees a newer one
    st->timer.async_wait([st, when](const asio::error_code&) {
        if (st->closed || st->scheduled != when) {
            return;  // superseded by a newer wait, or the watchdog is gone
        }
        on_timer(st);
    });
}

void Watchdog::on_timer(const std::shared_ptr<State>& st) {
    st->waiting = false;
    st->scheduled = Clock::time_point::max();
    if (st->deadline == Clock::time_point::max()) {
        return;  // disarmed meanwhile
    }
    auto now = Clock::now();
    if (st->deadline > now) {
        start_wait(st, st->deadline);  // re-armed to a later deadline since this wait began
        return;
    }
    st->fired = st->cause;
    st->deadline = Clock::time_point::max();
    asio::error_code ignored;
    if (st->client != nullptr) {
        st->client->cancel(ignored);
    }
    if (st->upstream != nullptr) {
        st->upstream->cancel(ignored);
    }
    if (st->waiter != nullptr) {
        st->waiter->cancel();
    }
}

}  // namespace usher::net
