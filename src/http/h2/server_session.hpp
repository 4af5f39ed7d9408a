#pragma once
// ServerSession: the server side of one HTTP/2 connection, sans-I/O, over nghttp2.
//
// The caller owns the socket. It hands every byte read from the client to feed(), writes what
// pending_output() shows and then calls consume_output(), and pulls what happened with
// next_event() until it returns nothing. Nothing calls back into the caller. Requests come out as
// the protocol-neutral RequestHead (see http/message.hpp), responses go in as ResponseHead.
//
// Back-pressure, both directions:
//  - request bodies: received DATA counts against the stream and connection windows until the
//    caller calls consume_request_data() for it (after forwarding it). A slow backend therefore
//    stops the client; at most the window (Settings::initial_stream_window) is held per stream.
//  - response bodies: submit_data() queues per stream; bytes leave only as the client's
//    flow-control windows allow. The caller reads stream_send_buffered() and stops reading from
//    its backend above its own threshold; stream_send_stalled() says the client's window is shut
//    (the caller's idle timeout decides when that is an attack).
//
// Defences (each a counter in this class or an nghttp2 option, see README.md): rapid reset,
// CONTINUATION floods, HPACK bombs, control/empty frame floods, unbounded output.
//
// Not thread-safe; one session per connection, used from its worker thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/limits.hpp"
#include "http/message.hpp"

namespace usher::http::h2 {

// The 24-byte client connection preface (RFC 9113 section 3.4).
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// h2c prior-knowledge detection on a plain listener, from the first bytes read.
// Returns:
//   match     - `bytes` start with the whole preface: hand everything to a ServerSession.
//   need_more - `bytes` are a strict prefix of the preface: read more before deciding.
//   mismatch  - not HTTP/2: parse as HTTP/1.
enum class PrefaceMatch : std::uint8_t { mismatch, need_more, match };
PrefaceMatch match_preface(std::string_view bytes) noexcept;
inline bool preface_matches(std::string_view bytes) noexcept {
    return match_preface(bytes) == PrefaceMatch::match;
}

// HTTP/2 error codes (RFC 9113 section 7) the caller sees or passes.
enum class ErrorCode : std::uint32_t {
    no_error = 0x0,
    protocol_error = 0x1,
    internal_error = 0x2,
    flow_control_error = 0x3,
    settings_timeout = 0x4,
    stream_closed = 0x5,
    frame_size_error = 0x6,
    refused_stream = 0x7,
    cancel = 0x8,
    compression_error = 0x9,
    connect_error = 0xa,
    enhance_your_calm = 0xb,
    inadequate_security = 0xc,
    http_1_1_required = 0xd,
};

struct Settings {
    // Advertised in our SETTINGS frame (and the connection window in a WINDOW_UPDATE).
    std::uint32_t max_concurrent_streams = limits::kH2MaxConcurrentStreams;
    std::uint32_t initial_stream_window = limits::kH2InitialStreamWindow;
    std::uint32_t connection_window = limits::kH2ConnectionWindow;
    std::uint32_t max_frame_size = limits::kH2MaxFrameSize;             // 16 KiB .. 16 MiB - 1
    std::uint32_t max_header_list_size = limits::kH2MaxHeaderListSize;  // also caps a block's
                                                                        // encoded size
    std::uint32_t header_table_size = limits::kH2HeaderTableSize;
    // Defences.
    std::uint32_t max_continuations = limits::kH2MaxContinuations;
    std::uint32_t reset_burst = limits::kH2ResetBurst;
    std::uint32_t reset_per_second = limits::kH2ResetPerSecond;
    std::uint32_t flood_burst = limits::kH2FloodBurst;
    std::uint32_t flood_per_second = limits::kH2FloodPerSecond;
    std::uint32_t flood_credit_per_work = limits::kH2FloodCreditPerWork;
    std::size_t max_outbound_ack = limits::kH2MaxOutboundAck;
    std::size_t output_high_water = limits::kH2OutputHighWater;
};

// What feed() reports. ok() or a connection error: a GOAWAY carrying `code` is queued in
// pending_output(); write it (best effort) and close the connection.
struct Status {
    ErrorCode code = ErrorCode::no_error;
    std::string_view reason;  // static string, short and safe to log ("rapid reset", ...)
    bool failed = false;

    bool ok() const noexcept { return !failed; }
};

// Events, in the order they happened on the connection. Stream ids are the client's (odd).
struct RequestHeadEvent {
    std::int32_t stream_id = 0;
    // Validated (RFC 9113 8.3): method, target (= path, or the authority for CONNECT), path,
    // authority (`:authority`, else Host); a Host field is added from `:authority` when absent.
    // framing: none (END_STREAM on HEADERS), content_length, or chunked meaning "a body of
    // unknown length follows". version stays http11 (Version has no HTTP/2 value yet).
    // Owned by the event: every view points into head.headers' arena.
    RequestHead head;
};
struct RequestDataEvent {
    std::int32_t stream_id = 0;
    // Every byte received since the previous RequestDataEvent of this stream, owned by the
    // event. The client may send more only after consume_request_data() for these bytes.
    std::string data;
};
struct RequestEndEvent {
    std::int32_t stream_id = 0;
    HeaderMap trailers;  // empty when the request had none; views point into its arena
};
struct StreamResetEvent {
    std::int32_t stream_id = 0;
    ErrorCode code = ErrorCode::no_error;  // the client's RST_STREAM code, or ours (stream error)
    bool by_client = false;
};
using Event = std::variant<RequestHeadEvent, RequestDataEvent, RequestEndEvent, StreamResetEvent>;

class ServerSession {
  public:
    using Clock = std::chrono::steady_clock::time_point (*)();

    // Queues our SETTINGS and connection WINDOW_UPDATE (see pending_output()). `clock` drives the
    // defences' token buckets; tests pass a fake one.
    explicit ServerSession(const Settings& settings = {},
                           Clock clock = &std::chrono::steady_clock::now);
    ~ServerSession();
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    // Consumes bytes read from the client (starting with the preface). Events become available
    // through next_event(); frames to send (SETTINGS ACK, WINDOW_UPDATE, ...) through
    // pending_output(). Returns a connection error (see Status) on a protocol violation or an
    // attack; after that, feed() ignores its input.
    Status feed(std::string_view bytes);

    // The next event, or nullopt. A stream's events stop after the caller ended its side
    // (end_stream, trailers or reset_stream). Streams reset by the client before their
    // RequestHeadEvent was pulled are dropped silently (they cost the caller nothing).
    std::optional<Event> next_event();

    // Re-opens the flow-control windows by `n` bytes of request body the caller has forwarded.
    // Safe to call after the stream ended (the connection window is still re-opened).
    void consume_request_data(std::int32_t stream_id, std::size_t n);

    // Responses. Each returns false when the stream is unknown, already ended by the caller, or
    // the call is out of order (data before the head, a second head, ...). Header names are
    // lowercased; connection-specific fields (Connection and the fields it names, Keep-Alive,
    // Proxy-Connection, Transfer-Encoding, Upgrade, TE) and pseudo-header names are dropped.
    // A 1xx status is sent as an interim head (end_stream ignored); call again for the final.
    bool submit_response(std::int32_t stream_id, const ResponseHead& head, bool end_stream);
    // Queues body bytes (copied); they leave as the client's windows allow.
    bool submit_data(std::int32_t stream_id, std::string_view bytes, bool end_stream);
    // Ends the stream with trailers after every queued byte.
    bool submit_trailers(std::int32_t stream_id, const HeaderMap& trailers);
    // RST_STREAM with `code`; drops queued bytes. No StreamResetEvent follows.
    void reset_stream(std::int32_t stream_id, ErrorCode code);

    // Shutdown/reload: a GOAWAY notice (last stream id 2^31-1) and a PING; when the PING ACK
    // arrives, the final GOAWAY with the last stream id we processed. Streams up to it finish;
    // later ones are refused. wants_read()/wants_write() turn false when all are done.
    void submit_goaway_graceful();

    // Response bytes queued by submit_data() and not yet encoded into frames.
    std::size_t stream_send_buffered(std::int32_t stream_id) const;
    // True when the stream has queued bytes but the client's stream or connection window is 0.
    bool stream_send_stalled(std::int32_t stream_id) const;
    std::size_t active_streams() const noexcept;
    // The connection error, once there is one: what feed() returned, or one found while encoding
    // output (pending_output()); ok() until then.
    const Status& status() const noexcept;

    // Encoded bytes to write to the client (pulled from nghttp2 up to output_high_water ahead of
    // the socket). The view is valid until the next non-const call.
    std::string_view pending_output();
    void consume_output(std::size_t n);

    // The connection is still useful: read more / write more. Both false: close it.
    bool wants_read() const noexcept;
    bool wants_write() const noexcept;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace usher::http::h2
