#pragma once
// ClientSession: the client side of one HTTP/2 connection to a backend (h2c, TLS with ALPN h2,
// gRPC), sans-I/O, over nghttp2.
//
// The caller owns the socket. It writes what pending_output() shows (the connection preface and
// our SETTINGS first) and then calls consume_output(), hands every byte read from the backend to
// feed(), and pulls what happened with next_event() until it returns nothing. Nothing calls back
// into the caller. Requests go in as the protocol-neutral RequestHead, responses come out as
// ResponseHead (see http/message.hpp).
//
// Back-pressure, both directions:
//  - request bodies: submit_data() queues per stream; bytes leave only as the backend's windows
//    allow. The caller reads stream_send_buffered() and stops reading its client above its own
//    threshold.
//  - response bodies: received DATA counts against the stream and connection windows until the
//    caller calls consume_response_data() for it (after forwarding it), so a slow client stops
//    the backend; at most ClientSettings::initial_stream_window is held per stream.
//
// Strict on input: a response that breaks RFC 9113 8.3 (bad or missing :status, other
// pseudo-headers, uppercase or connection-specific fields, invalid characters, content-length
// not matching the DATA) or whose header list exceeds max_header_list_size resets its stream
// and ends as a StreamClosedEvent with protocol_error; the connection lives on.
//
// Not thread-safe; one session per connection, used from its worker thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/limits.hpp"
#include "http/h2/server_session.hpp"  // ErrorCode, Status
#include "http/message.hpp"

namespace usher::http::h2 {

struct ClientSettings {
    // Advertised in our SETTINGS frame (and the connection window in a WINDOW_UPDATE).
    std::uint32_t initial_stream_window = 256 * 1024;  // response bytes per stream before consume
    std::uint32_t connection_window = 4 * 1024 * 1024;
    std::uint32_t max_header_list_size = limits::kH2MaxHeaderListSize;  // decoded, per block
    std::size_t output_high_water = limits::kH2OutputHighWater;
};

// Events, in the order they happened on the connection. Stream ids are ours (odd).
struct ResponseHeadEvent {
    std::int32_t stream_id = 0;
    // Validated. An interim head (status < 200) may come first; the final head follows.
    // framing: none when END_STREAM came with the head, for 1xx/204/304 and for a HEAD request;
    // content_length when content-length is present (digits, matched against the DATA total);
    // else chunked meaning "a body of unknown length follows". version is http2; reason is the
    // standard phrase. Owned by the event: every view points into head.headers' arena.
    ResponseHead head;
};
struct ResponseDataEvent {
    std::int32_t stream_id = 0;
    // Body bytes received since the previous event, owned by the event. The backend may send
    // more only after consume_response_data() for these bytes.
    std::string data;
};
struct ResponseEndEvent {
    std::int32_t stream_id = 0;
    HeaderMap trailers;  // empty when the response had none; views point into its arena
};
// A stream that ended without a ResponseEndEvent (never after one). Codes:
//   refused_stream - the backend refused it (GOAWAY below its id, or its RST_STREAM): it never
//                    reached the backend's application, the caller may retry it.
//   protocol_error - a malformed response (our stream error) or the backend's own reset code.
//   anything else  - the backend's RST_STREAM code, or the connection error (status()) for
//                    the streams still open when the connection failed.
struct StreamClosedEvent {
    std::int32_t stream_id = 0;
    ErrorCode code = ErrorCode::no_error;
    std::string_view reason;  // static string, short and safe to log
};
struct GoawayEvent {
    std::int32_t last_stream_id = 0;
    ErrorCode code = ErrorCode::no_error;
};
using ClientEvent = std::variant<ResponseHeadEvent, ResponseDataEvent, ResponseEndEvent,
                                 StreamClosedEvent, GoawayEvent>;

class ClientSession {
  public:
    // Queues the connection preface, our SETTINGS (push disabled) and the connection
    // WINDOW_UPDATE (see pending_output()).
    explicit ClientSession(const ClientSettings& settings = {});
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    // Opens a stream: HEADERS with :method, :scheme (`scheme`), :authority (head.authority, else
    // the Host field) and :path (head.path, else head.target), then head.headers with names
    // lowercased, minus pseudo-header names and connection-specific fields (Connection and the
    // fields it names, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, Host, and TE
    // unless it lists "trailers", sent as "te: trailers"). `end_stream`: no body follows.
    // Returns the stream id, or -1 when no stream can be opened (see can_open_stream()) or the
    // method is CONNECT (not proxied over HTTP/2 to backends).
    std::int32_t submit_request(const RequestHead& head, std::string_view scheme, bool end_stream);
    // Queues body bytes (copied); they leave as the backend's windows allow. Returns false when
    // the stream is unknown (closed), was opened with end_stream, or the caller ended its side.
    bool submit_data(std::int32_t stream_id, std::string_view bytes, bool end_stream);
    // Ends the request with trailers after every queued byte (same false cases as submit_data).
    bool submit_trailers(std::int32_t stream_id, const HeaderMap& trailers);
    // RST_STREAM with `code`; drops queued bytes and the stream's undelivered events. No event
    // for the stream follows.
    void reset_stream(std::int32_t stream_id, ErrorCode code);

    // Consumes bytes read from the backend. Events become available through next_event();
    // frames to send (SETTINGS ACK, WINDOW_UPDATE, ...) through pending_output(). Returns a
    // connection error on a protocol violation; a GOAWAY is queued, every open stream gets a
    // StreamClosedEvent with that code, and feed() ignores further input.
    Status feed(std::string_view bytes);

    // The socket failed or the backend closed it: the session fails (status() "connection
    // lost") and every open stream gets a StreamClosedEvent, refused_stream for those whose
    // HEADERS were never written (safe to retry), internal_error for the others.
    void connection_lost();

    // The next event, or nullopt.
    std::optional<ClientEvent> next_event();

    // Re-opens the flow-control windows by `n` bytes of response body the caller has forwarded
    // (or dropped). Safe after the stream ended (the connection window is still re-opened).
    void consume_response_data(std::int32_t stream_id, std::size_t n);

    // Encoded bytes to write to the backend (pulled from nghttp2 up to output_high_water ahead
    // of the socket). The view is valid until the next non-const call.
    std::string_view pending_output();
    void consume_output(std::size_t n);

    // Request bytes queued by submit_data() and not yet encoded into frames.
    std::size_t stream_send_buffered(std::int32_t stream_id) const;
    // submit_request() would succeed: no GOAWAY sent or received, no connection error, stream
    // ids left, and fewer open streams than the backend's SETTINGS_MAX_CONCURRENT_STREAMS
    // (100 until its SETTINGS arrive).
    bool can_open_stream() const noexcept;
    // Streams opened and not yet closed (a stream whose response ended may still be sending).
    std::size_t active_streams() const noexcept;
    // Read more / write more. wants_read() turns false after a GOAWAY once every stream is
    // done, or after a connection error. Both false: close the connection.
    bool wants_read() const noexcept;
    bool wants_write() const noexcept;
    // The connection error, once there is one; ok() until then.
    const Status& status() const noexcept;

    // Sends a PING; ping_acks() counts the acks received (a liveness check of idle pooled
    // connections: submit, flush, and see the count move).
    void submit_ping();
    std::uint64_t ping_acks() const noexcept;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace usher::http::h2
