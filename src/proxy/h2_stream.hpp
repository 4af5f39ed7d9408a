#pragma once
// H2Stream: one HTTP/2 stream as its exchange sees it. The connection (h2_connection.hpp) fills
// in the request body and its end as frames arrive and wakes the exchange; the exchange's
// ProxyHandler sends the response through respond()/data()/finish() and re-opens the client's
// flow-control window with consumed() once it forwarded request bytes (that is the
// back-pressure: a backend that reads slowly stops the client after one window).
//
// Waiting: `wake` is a timer used as a condition. wait() sleeps until notify() (new body bytes,
// the request's end, a reset, output drained) or until the exchange's watchdog cancels it. Both
// run on the worker's thread, so a condition checked before wait() cannot be missed.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/asio.hpp"
#include "http/header_map.hpp"
#include "http/message.hpp"

namespace usher::proxy {

class H2Connection;

struct H2Stream {
    H2Stream(H2Connection& c, std::int32_t stream_id, const Executor& ex)
        : conn(c), id(stream_id), wake(ex), body_wake(ex) {}

    H2Connection& conn;
    std::int32_t id;
    std::string body;          // request body bytes received and not yet forwarded
    http::HeaderMap trailers;  // the request's trailers, once `ended`
    bool ended = false;        // the client's END_STREAM arrived
    bool reset = false;        // the client reset the stream, or the connection is gone
    bool finished = false;     // our side ended (END_STREAM, trailers or RST_STREAM submitted)
    SteadyTimer wake;
    bool waiting = false;
    // A request body forwarded alongside the response (bidirectional streams) waits here, so
    // both directions can wait at once.
    SteadyTimer body_wake;
    bool body_waiting = false;

    void notify() {
        if (waiting) {
            wake.cancel();
        }
        if (body_waiting) {
            body_wake.cancel();
        }
    }
    Task<void> wait_body() {
        body_waiting = true;
        body_wake.expires_at(SteadyTimer::time_point::max());
        co_await body_wake.async_wait(use_tuple);
        body_waiting = false;
    }
    // Sleeps until notify() or the watchdog (then the caller checks watchdog.fired()).
    Task<void> wait() {
        waiting = true;
        wake.expires_at(SteadyTimer::time_point::max());
        co_await wake.async_wait(use_tuple);
        waiting = false;
    }

    // The response. Each returns false when the stream is gone (reset, connection closed).
    // A 1xx head is sent as an interim response.
    bool respond(const http::ResponseHead& head, bool end_stream);
    bool data(std::string_view bytes, bool end_stream);
    // Ends the stream: with trailers when `trailers` is not empty, else an empty END_STREAM DATA.
    bool finish(const http::HeaderMap& trailers);
    // Response bytes queued and not yet sent to the client (flow control); the exchange waits
    // while this is above its high-water mark.
    std::size_t send_buffered() const;
    // `n` request body bytes were forwarded: the client may send that many more.
    void consumed(std::size_t n);
};

}  // namespace usher::proxy
