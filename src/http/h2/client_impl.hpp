#pragma once
// ClientSession's internals, shared by client_session.cpp (the caller-facing API, output) and
// client_callbacks.cpp (nghttp2's callbacks: frames in, events out). Internal to src/http/h2.
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/h2/client_session.hpp"

namespace usher::http::h2 {
namespace client_detail {

inline std::string_view as_view(const std::uint8_t* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

inline std::uint8_t* as_bytes(std::string_view s) {
    // nghttp2_nv takes non-const pointers but only reads them (we never pass NO_COPY flags).
    return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}

// One request stream, from submit_request() until nghttp2 closes it (or never sends it).
struct OutgoingStream {
    // Request side.
    bool head_request = false;   // HEAD: the response has no body whatever its fields say
    bool caller_done = false;    // the caller reset the stream: no more events
    bool request_ended = false;  // the caller ended its side (end_stream or trailers)
    bool head_sent = false;      // our HEADERS were encoded for the socket
    std::string body_out;
    std::size_t body_out_pos = 0;
    std::vector<std::pair<std::string, std::string>> out_trailers;
    // Response side.
    ResponseHead head;  // the block being received
    HeaderMap trailers;
    std::size_t header_list_size = 0;  // decoded size of the current block (RFC 9113 6.5.2)
    bool oversized = false;            // current block over max_header_list_size
    bool final_head = false;           // a head with status >= 200 was delivered
    bool response_ended = false;       // ResponseEndEvent queued
    bool reset_by_peer = false;
    bool rejected = false;          // we reset it for a malformed response: no more events
    std::string_view close_reason;  // why we reset it, when we did

    std::size_t queued() const { return body_out.size() - body_out_pos; }
};

}  // namespace client_detail

struct ClientSession::Impl {
    using Stream = client_detail::OutgoingStream;

    ClientSettings settings;
    nghttp2_session* session = nullptr;
    std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams;
    std::deque<ClientEvent> events;
    std::string out;
    std::size_t out_pos = 0;
    std::vector<std::pair<std::int32_t, std::size_t>> to_consume;  // applied outside callbacks
    Status failure;           // set once, by feed() or pull_output()
    bool terminated = false;  // our GOAWAY for `failure` is queued
    bool lost = false;        // connection_lost(): the socket is gone
    int last_lib_error = 0;
    bool goaway_received = false;
    std::uint64_t ping_acks = 0;
    std::string scratch;  // lowercased field names while submitting

    explicit Impl(const ClientSettings& s) : settings(s) {}

    Stream* find(std::int32_t id) {
        auto it = streams.find(id);
        return it == streams.end() ? nullptr : it->second.get();
    }

    void close_event(std::int32_t id, ErrorCode code, std::string_view reason) {
        events.emplace_back(StreamClosedEvent{id, code, reason});
    }
    // Resets a stream whose response we reject; its StreamClosedEvent follows from
    // on_stream_close with protocol_error.
    void reject(std::int32_t id, Stream& st, std::string_view reason) {
        if (st.rejected) {
            return;
        }
        st.rejected = true;
        if (st.close_reason.empty()) {
            st.close_reason = reason;
        }
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
    }
    // Drops the undelivered events of a stream the caller gave up, re-opening the windows
    // for the body bytes among them.
    void drop_events(std::int32_t id);
    void queue_head(std::int32_t id, Stream& st, bool end_stream);
    void apply_consumes();
    // Fails the connection: our GOAWAY is queued, every open stream gets its StreamClosedEvent.
    void terminate(Status status);
    void fail_streams(ErrorCode unsent_code);
    void pull_output();

    // nghttp2 callbacks.
    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t flags, void* self);
    static int on_invalid_header(nghttp2_session*, const nghttp2_frame* frame,
                                 const std::uint8_t* name, std::size_t namelen,
                                 const std::uint8_t* value, std::size_t valuelen,
                                 std::uint8_t flags, void* self);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* self);
    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* self);
    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                 void* self);
    static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* self);
    static int on_error(nghttp2_session*, int lib_error, const char*, std::size_t, void* self);
    static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                             void* self);
};

inline ClientSession::Impl& client_impl(void* p) {
    return *static_cast<ClientSession::Impl*>(p);
}

}  // namespace usher::http::h2
