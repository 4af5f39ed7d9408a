#pragma once
// ProxyHandler: one request, start to finish, as one coroutine you read top to bottom
// (docs/life-of-a-request.md draws it). The client connection calls handle() for each request head
// it parsed; handle() routes, answers locally or forwards to a backend, streams both bodies with
// back-pressure, logs, and says whether the client connection may carry another request.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "http/h1/parser.hpp"
#include "proxy/access_log.hpp"
#include "proxy/downstream.hpp"
#include "proxy/local_reply.hpp"
#include "upstream/cluster.hpp"

namespace usher::upstream {
class H2Upstream;
struct H2Request;
}  // namespace usher::upstream

namespace usher::proxy {

class ProxyHandler {
  public:
    explicit ProxyHandler(Downstream& down) : down_(down) {}

    // Handles the request in down_.request whose head is the first `head_size` bytes of down_.in.
    // Consumes the head and the body from down_.in. Returns true when the connection may read the
    // next request (keep-alive, nothing left in an unknown state).
    Task<bool> handle(std::size_t head_size);

    // Sends a local reply for a request that could not be parsed (no route, no body handling).
    Task<void> reply_to_bad_request(const http::h1::ParseError& error, std::size_t received);

  private:
    struct Upstream;
    struct Forwarding;
    // Where an attempt's step leads (proxy_handler_forward.cpp).
    enum class Step : std::uint8_t {
        go_on,             // to the next step of this attempt
        next_endpoint,     // nothing was sent: the next endpoint at once
        fresh_connection,  // a stale pooled connection: again on a new one
        retry,             // after the backoff, on another endpoint
        done               // answered (or abandoned): forward() returns Forwarding::result
    };

    // A local answer that handle() decides without a backend (nullopt: forward the request).
    std::optional<std::pair<LocalReply, std::string_view>> local_answer(const CompiledRoute* route);
    // Forwarding to a backend (proxy_handler_forward.cpp): attempts, each picking an endpoint,
    // connecting, sending the request and awaiting the response head, then the response.
    Task<bool> forward(const CompiledRoute& route, upstream::Cluster& cluster,
                       std::size_t head_size);
    Task<Step> connect_upstream(Forwarding& f);
    Task<Step> send_request(Forwarding& f);
    Task<Step> await_response_head(Forwarding& f);
    Task<bool> relay_interim(Forwarding& f);
    Step on_final_head(Forwarding& f);
    Task<bool> relay_response(Forwarding& f);
    Task<bool> fail(Forwarding& f, std::uint16_t status, std::string_view cause,
                    std::string_view detail = {});
    // fail(), as a step's end: Step::done with the answer's result.
    Task<Step> give_up(Forwarding& f, std::uint16_t status, std::string_view cause,
                       std::string_view detail = {});
    void drop_connection(Forwarding& f);
    void consume_request(Forwarding& f);
    bool client_gone() const noexcept;
    void abandon(Forwarding& f);
    bool may_retry(Forwarding& f, upstream::AttemptResult why);
    Task<void> backoff(Forwarding& f);
    Task<bool> reply(LocalReply reply, std::string_view cause);
    // Reads the rest of a Content-Length body into the read buffer (so a retry can replay it).
    // False when the connection must close (client gone, or a 408/504 was already sent).
    Task<bool> hold_request_body(std::size_t head_size);
    Task<asio::error_code> send_request_body(Upstream& up);
    // A read of the client's body failed: records 408/504 (a deadline) or 499 (client gone).
    asio::error_code client_body_failed(asio::error_code ec);
    // The response body to the client, by the backend's framing (each its own small coroutine).
    Task<bool> stream_response_body(Upstream& up, bool client_chunked, bool close_delimited);
    Task<bool> relay_h2_body(Upstream& up, bool client_chunked);
    Task<bool> relay_length_body(Upstream& up);
    Task<bool> relay_chunked_body(Upstream& up, bool client_chunked);
    Task<bool> relay_body_to_close(Upstream& up, bool client_chunked, bool close_delimited);
    // One write of body bytes (with the head still pending, if any) / one read from upstream.
    Task<bool> send_body(std::string_view prefix, std::string_view data, std::string_view suffix);
    Task<bool> read_body(Upstream& up);
    void note_body_read_failed();  // the cause: the deadline that fired, or a truncated body
    // Ends a body that broke off: the pending head still goes out (the client sees a broken
    // transfer rather than nothing). Always false.
    Task<bool> body_broken();
    Task<void> tunnel(Upstream& up);
    // HTTP/2 streams (proxy_handler_h2.cpp): the same steps through the stream.
    Task<bool> reply_h2(LocalReply reply, std::string_view cause);
    // Request body bytes to the backend: raw (Content-Length), as one chunk, or as HTTP/2 DATA
    // (with back-pressure) when the cluster speaks h2; end_body ends it (last chunk + trailers,
    // or END_STREAM / HTTP/2 trailers).
    Task<asio::error_code> write_body(Upstream& up, std::string_view data, bool chunked);
    Task<asio::error_code> end_body(Upstream& up, std::string_view trailer_lines, bool chunked);
    // `protocol: h2` clusters: gets (or opens) the endpoint's multiplexed connection.
    Task<asio::error_code> connect_h2(Upstream& up, upstream::Endpoint& ep, bool& tls_failed,
                                      bool& connected_now);
    // Waits on an upstream HTTP/2 stream under the watchdog; false when the deadline fired.
    // HTTP/2 client and backend, a body of unknown length (gRPC streaming): the body is
    // forwarded by a coroutine of its own while the response streams back; handle() joins it.
    void start_body_pump(Upstream& up);
    Task<void> pump_body(std::shared_ptr<upstream::H2Upstream> conn,
                         std::shared_ptr<upstream::H2Request> rq);
    Task<void> join_body_pump();
    Task<bool> wait_upstream_h2(Upstream& up, std::chrono::steady_clock::time_point deadline,
                                net::TimeoutCause cause);
    Task<asio::error_code> send_request_body_h2(Upstream& up);
    Task<bool> send_response_head_h2(bool end_stream);
    Task<bool> send_data_h2(std::string_view data);
    bool finish_h2();
    void start_log(const CompiledRoute* route);
    void finish_log();

    Downstream& down_;
    const config::Config* config_ = nullptr;
    config::Timeouts timeouts_;
    std::uint64_t max_body_ = 0;  // the route's body limit, 0 = none
    bool wants_json_ = false;     // Accept prefers JSON (for local replies)
    http::ResponseHead response_;
    std::string path_scratch_;
    std::string chunk_scratch_;      // filtered trailers
    std::string_view head_pending_;  // HTTP/1: the response head, written with the first body bytes
    // HTTP/2: the client's head (re-read from the HTTP/1 serialization, so header policy lives
    // in one place: forward_headers), the request bytes being forwarded, response trailers.
    http::ResponseHead h2_head_;
    http::RequestHead h2_request_;  // the upstream head re-read for an h2 cluster
    bool pump_running_ = false;     // start_body_pump() .. the pump's end
    bool pump_stop_ = false;        // join_body_pump() asks it to end
    std::unique_ptr<SteadyTimer> pump_done_;
    std::shared_ptr<upstream::H2Request> pump_request_;
    std::string h2_body_;
    std::string_view h2_trailers_;

    // Per-request log fields (strings keep their capacity across requests).
    struct LogState {
        std::string method, path, host, referer, user_agent, upstream;
        std::string_view route, cluster, cause;
        http::Version version = http::Version::http11;
        std::uint16_t status = 0;
        std::uint64_t bytes_in = 0, bytes_out = 0;
        std::chrono::system_clock::time_point start_wall;
        std::chrono::steady_clock::time_point start, sent, connected;
        double connect_s = -1, first_byte_s = -1;
    } log_;
};

}  // namespace usher::proxy
