#pragma once
// ServerSession's internals, shared by server_session.cpp (the caller-facing API, output) and
// session_callbacks.cpp (nghttp2's callbacks: frames in, events out). Internal to src/http/h2;
// the only header besides those .cpp files that includes nghttp2.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/h2/server_session.hpp"
#include "http/h2/token_bucket.hpp"

namespace usher::http::h2 {

// Opaque data of the PING that times the final GOAWAY of a graceful shutdown.
inline constexpr std::array<std::uint8_t, 8> kGoawayPing = {'u', 's', 'h', 'e', 'r', 'g', 'o', 'a'};

inline std::string_view view(const std::uint8_t* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

inline std::uint8_t* bytes(std::string_view s) {
    // nghttp2_nv takes non-const pointers but only reads them (we never pass NO_COPY flags).
    return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}

// One client stream, from its HEADERS until nghttp2 closes it.
struct Stream {
    // Request side.
    RequestHead head;  // filled by on_header, moved into the RequestHeadEvent
    HeaderMap trailers;
    std::string_view scheme;
    std::size_t host_count = 0;
    std::size_t header_list_size = 0;  // decoded size of the current block (RFC 9113 6.5.2)
    bool oversized = false;            // header list over the limit: answered 431, no events
    bool head_delivered = false;
    bool request_ended = false;  // END_STREAM received
    bool reset_by_client = false;
    std::string body_in;  // received, not yet delivered
    bool data_event_queued = false;
    // Response side.
    bool caller_done = false;  // the caller ended or reset its side: no more events
    bool final_head_sent = false;
    bool response_complete = false;  // END_STREAM sent
    std::string body_out;
    std::size_t body_out_pos = 0;
    bool out_end = false;  // end the stream once body_out is drained
    std::vector<std::pair<std::string, std::string>> out_trailers;
    bool has_out_trailers = false;

    std::size_t queued() const { return body_out.size() - body_out_pos; }
};

struct ServerSession::Impl {
    enum class Pending : std::uint8_t { head, data, end, reset };
    struct QueuedEvent {
        Pending kind;
        std::int32_t stream_id;
        ErrorCode code = ErrorCode::no_error;
        bool by_client = false;
    };
    enum class Goaway : std::uint8_t { none, notice_sent, final_sent };

    Settings settings;
    Clock clock;
    nghttp2_session* session = nullptr;
    std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams;
    std::deque<QueuedEvent> events;
    std::string out;
    std::size_t out_pos = 0;
    TokenBucket resets;
    TokenBucket floods;
    std::size_t block_bytes = 0;  // encoded bytes of the header block being received
    std::vector<std::pair<std::int32_t, std::size_t>> to_consume;  // applied outside callbacks
    std::size_t connection_to_consume = 0;
    Status failure;           // set once, by a callback, feed() or pull_output()
    bool terminated = false;  // our GOAWAY for `failure` is queued
    int last_lib_error = 0;
    Goaway goaway = Goaway::none;
    bool client_goaway = false;
    std::string scratch;  // lowercased field names while submitting

    Impl(const Settings& s, Clock c)
        : settings(s),
          clock(c),
          resets(s.reset_burst, s.reset_per_second, c()),
          floods(s.flood_burst, s.flood_per_second, c()) {}

    Stream* find(std::int32_t id) {
        auto it = streams.find(id);
        return it == streams.end() ? nullptr : it->second.get();
    }

    // Fails the connection from inside a callback: the callback then returns
    // NGHTTP2_ERR_CALLBACK_FAILURE so nghttp2 stops reading at once; feed() sends the GOAWAY.
    int fail(ErrorCode code, std::string_view reason) {
        if (!failure.failed) {
            failure = {code, reason, true};
        }
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }

    void credit_work() { floods.credit(settings.flood_credit_per_work); }

    // A frame that moves no request or response forward.
    int spend_flood() {
        if (!floods.take(clock())) {
            return fail(ErrorCode::enhance_your_calm, "frame flood");
        }
        return 0;
    }

    // The caller is done with the stream: drop undelivered request bytes (re-opening the window)
    // and consume whatever still arrives.
    void end_for_caller(Stream& st, std::int32_t id) {
        st.caller_done = true;
        if (!st.body_in.empty()) {
            to_consume.emplace_back(id, st.body_in.size());
            st.body_in.clear();
        }
    }

    void queue_head(std::int32_t id, Stream& st, bool end_stream);
    std::string_view validate(Stream& st);
    void reply_local(std::int32_t id, Stream& st, std::uint16_t status);
    void apply_consumes();
    void terminate(Status status);
    void pull_output();
    void on_response_end(std::int32_t id, Stream& st);

    // nghttp2 callbacks.
    static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self);
    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t flags, void* self);
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* self);
    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* self);
    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
    static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* self);
    static int on_error(nghttp2_session*, int lib_error, const char*, std::size_t, void* self);
    static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                             void* self);
};

inline ServerSession::Impl& impl(void* p) {
    return *static_cast<ServerSession::Impl*>(p);
}

}  // namespace usher::http::h2
