#include "http/h2/server_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/h2/token_bucket.hpp"

namespace usher::http::h2 {

namespace {

// Opaque data of the PING that times the final GOAWAY of a graceful shutdown.
constexpr std::array<std::uint8_t, 8> kGoawayPing = {'u', 's', 'h', 'e', 'r', 'g', 'o', 'a'};

std::string_view view(const std::uint8_t* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

std::uint8_t* bytes(std::string_view s) {
    // nghttp2_nv takes non-const pointers but only reads them (we never pass NO_COPY flags).
    return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}

// Fields that describe one HTTP/1 connection and mean nothing (or something dangerous) in
// HTTP/2 (RFC 9113 8.2.2); never sent in our responses.
bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade" || lower_name == "te";
}

bool names_in_connection(const HeaderMap& headers, std::string_view name) {
    for (const auto& f : headers) {
        if (!iequals(f.name, "connection")) {
            continue;
        }
        std::string_view rest = f.value;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto token = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
                token.remove_prefix(1);
            }
            while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
                token.remove_suffix(1);
            }
            if (!token.empty() && iequals(token, name)) {
                return true;
            }
        }
    }
    return false;
}

// The fields of `headers` we may send, names lowercased into `names` (sized once, so the views
// in `out` stay valid). `out` may already hold pseudo-header fields.
void build_fields(const HeaderMap& headers, std::string& names, std::vector<nghttp2_nv>& out) {
    std::size_t total = 0;
    for (const auto& f : headers) {
        total += f.name.size();
    }
    names.assign(total, '\0');
    std::size_t at = 0;
    for (const auto& f : headers) {
        if (f.name.empty() || f.name.front() == ':') {
            continue;
        }
        char* lower = names.data() + at;
        std::transform(f.name.begin(), f.name.end(), lower, [](char c) {
            return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        });
        std::string_view name{lower, f.name.size()};
        if (connection_specific(name) || names_in_connection(headers, name)) {
            continue;
        }
        at += name.size();
        out.push_back(
            {bytes(name), bytes(f.value), name.size(), f.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
}

ErrorCode code_of_lib_error(int lib_error) {
    switch (lib_error) {
        case NGHTTP2_ERR_FLOW_CONTROL:
            return ErrorCode::flow_control_error;
        case NGHTTP2_ERR_HEADER_COMP:
            return ErrorCode::compression_error;
        case NGHTTP2_ERR_FRAME_SIZE_ERROR:
            return ErrorCode::frame_size_error;
        case NGHTTP2_ERR_FLOODED:
        case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        case NGHTTP2_ERR_TOO_MANY_SETTINGS:
            return ErrorCode::enhance_your_calm;
        case NGHTTP2_ERR_NOMEM:
        case NGHTTP2_ERR_CALLBACK_FAILURE:
            return ErrorCode::internal_error;
        default:
            return ErrorCode::protocol_error;
    }
}

}  // namespace

PrefaceMatch match_preface(std::string_view bytes) noexcept {
    const std::size_t n = std::min(bytes.size(), kClientPreface.size());
    if (bytes.substr(0, n) != kClientPreface.substr(0, n)) {
        return PrefaceMatch::mismatch;
    }
    return n == kClientPreface.size() ? PrefaceMatch::match : PrefaceMatch::need_more;
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

namespace {
ServerSession::Impl& impl(void* p) {
    return *static_cast<ServerSession::Impl*>(p);
}
}  // namespace

int ServerSession::Impl::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* p) {
    auto& s = impl(p);
    const bool end_stream = (hd->flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (hd->type) {
        case NGHTTP2_HEADERS:
        case NGHTTP2_CONTINUATION:
            // CVE-2024-27316: a header block's encoded size is capped like its decoded size
            // (nghttp2 also caps the CONTINUATION count), so it cannot grow without end.
            s.block_bytes = hd->type == NGHTTP2_HEADERS ? hd->length : s.block_bytes + hd->length;
            if (s.block_bytes > s.settings.max_header_list_size) {
                return s.fail(ErrorCode::enhance_your_calm, "header block too large");
            }
            return hd->length == 0 && !end_stream ? s.spend_flood() : 0;
        case NGHTTP2_DATA:
            if (hd->length == 0 && !end_stream) {
                return s.spend_flood();
            }
            if (hd->length > 0) {
                s.credit_work();
            }
            return 0;
        case NGHTTP2_RST_STREAM:
            // Resets of streams we know are judged in on_frame_recv (rapid reset).
            return s.find(hd->stream_id) == nullptr ? s.spend_flood() : 0;
        case NGHTTP2_GOAWAY:
            return 0;
        default:  // SETTINGS, PING, PRIORITY, WINDOW_UPDATE, PRIORITY_UPDATE, unknown types
            return s.spend_flood();
    }
}

int ServerSession::Impl::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = impl(p);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        s.streams[frame->hd.stream_id] = std::make_unique<Stream>();
    }
    return 0;
}

int ServerSession::Impl::on_header(nghttp2_session*, const nghttp2_frame* frame,
                                   const std::uint8_t* name_p, std::size_t namelen,
                                   const std::uint8_t* value_p, std::size_t valuelen, std::uint8_t,
                                   void* p) {
    auto& s = impl(p);
    Stream* st = s.find(frame->hd.stream_id);
    if (st == nullptr || st->oversized || st->caller_done) {
        return 0;
    }
    // HPACK bomb: a few encoded bytes can name a large table entry many times. Stop storing at
    // the advertised limit (nghttp2 keeps decoding so the HPACK state stays in sync).
    st->header_list_size += namelen + valuelen + 32;
    if (st->header_list_size > s.settings.max_header_list_size) {
        st->oversized = true;
        st->head.clear();
        st->trailers.clear();
        return 0;
    }
    const auto name = view(name_p, namelen);
    const auto value = view(value_p, valuelen);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        st->trailers.add_copy(name, value);  // nghttp2 rejects pseudo-headers in trailers
        return 0;
    }
    auto& h = st->head;
    if (!name.empty() && name.front() == ':') {
        // nghttp2 has rejected unknown, repeated and misplaced pseudo-headers already.
        const auto copy = h.headers.intern(value);
        if (name == ":method") {
            h.method = copy;
        } else if (name == ":path") {
            h.path = copy;
        } else if (name == ":authority") {
            h.authority = copy;
        } else if (name == ":scheme") {
            st->scheme = copy;
        }
        return 0;
    }
    if (name == "host") {
        ++st->host_count;
    }
    h.headers.add_copy(name, value);
    return 0;
}

// RFC 9113 8.3 beyond what nghttp2 checks. Returns why the request is malformed, or empty.
std::string_view ServerSession::Impl::validate(Stream& st) {
    auto& h = st.head;
    if (h.method.empty()) {
        return "missing :method";
    }
    const bool connect = h.method == "CONNECT";
    if (!connect) {
        if (st.scheme.empty() || h.path.empty()) {
            return "missing :scheme or :path";
        }
        if (h.path.front() != '/' && !(h.path == "*" && h.method == "OPTIONS")) {
            return "bad :path";
        }
    }
    if (st.host_count > 1) {
        return "repeated host";
    }
    const HeaderField* host = h.headers.find("host");
    if (!h.authority.empty() && host != nullptr && host->value != h.authority) {
        return "host differs from :authority";
    }
    if (h.authority.empty() && host == nullptr) {
        return "missing :authority and host";
    }
    if (const HeaderField* cl = h.headers.find("content-length")) {
        auto [end, ec] = std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(),
                                         h.content_length);
        if (ec != std::errc{} || end != cl->value.data() + cl->value.size()) {
            return "bad content-length";
        }
    }
    return {};
}

void ServerSession::Impl::queue_head(std::int32_t id, Stream& st, bool end_stream) {
    auto& h = st.head;
    if (h.authority.empty()) {
        h.authority = h.headers.find("host")->value;
    } else if (!h.headers.contains("host")) {
        h.headers.add("host", h.authority);  // views into the arena
    }
    h.target = h.method == "CONNECT" ? h.authority : h.path;
    if (h.method == "CONNECT") {
        h.path = h.authority;
    }
    if (h.headers.count("cookie") > 1) {
        // RFC 9113 8.2.3: HTTP/2 may split cookies; HTTP/1 wants one field joined by "; ".
        std::string joined;
        for (const auto& f : h.headers) {
            if (f.name == "cookie") {
                joined.append(joined.empty() ? "" : "; ").append(f.value);
            }
        }
        h.headers.set_copy("cookie", joined);
    }
    if (h.headers.contains("content-length")) {
        h.framing = BodyFraming::content_length;
    } else {
        h.framing = end_stream ? BodyFraming::none : BodyFraming::chunked;
    }
    if (const auto* e = h.headers.find("expect")) {
        h.expect_continue = iequals(e->value, "100-continue");
    }
    events.push_back({Pending::head, id});
    credit_work();  // only a valid request earns credit: malformed ones are glitches
    if (end_stream) {
        st.request_ended = true;
        events.push_back({Pending::end, id});
    }
}

void ServerSession::Impl::reply_local(std::int32_t id, Stream& st, std::uint16_t status) {
    end_for_caller(st, id);
    char digits[3] = {static_cast<char>('0' + status / 100),
                      static_cast<char>('0' + status / 10 % 10),
                      static_cast<char>('0' + status % 10)};
    std::array<nghttp2_nv, 2> nva = {
        nghttp2_nv{bytes(":status"), bytes({digits, 3}), 7, 3, NGHTTP2_NV_FLAG_NONE},
        nghttp2_nv{bytes("content-length"), bytes("0"), 14, 1, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_submit_response(session, id, nva.data(), nva.size(), nullptr);
}

int ServerSession::Impl::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = impl(p);
    const std::int32_t id = frame->hd.stream_id;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    Stream* st = id != 0 ? s.find(id) : nullptr;
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
            s.block_bytes = 0;
            if (st == nullptr || st->caller_done) {
                break;
            }
            if (st->oversized) {
                // HPACK bomb or simply too large: a request head gets a 431 and no events; too
                // large trailers reset the stream (the caller sees a StreamResetEvent).
                if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                    s.reply_local(id, *st, 431);
                } else {
                    nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, id,
                                              NGHTTP2_ENHANCE_YOUR_CALM);
                }
                return s.spend_flood();
            }
            if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                if (!s.validate(*st).empty()) {
                    s.end_for_caller(*st, id);
                    nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, id,
                                              NGHTTP2_PROTOCOL_ERROR);
                    return s.spend_flood();
                }
                s.queue_head(id, *st, end_stream);
            } else if (end_stream) {  // trailers
                st->request_ended = true;
                s.events.push_back({Pending::end, id});
            }
            break;
        case NGHTTP2_DATA:
            if (st != nullptr && end_stream && !st->caller_done) {
                st->request_ended = true;
                s.events.push_back({Pending::end, id});
            }
            break;
        case NGHTTP2_RST_STREAM:
            if (st == nullptr) {
                break;
            }
            st->reset_by_client = true;
            // CVE-2023-44487: a reset costs us only once the request reached the caller (it may
            // have started an upstream request); those are rate-limited.
            if (st->head_delivered && !st->response_complete && !s.resets.take(s.clock())) {
                return s.fail(ErrorCode::enhance_your_calm, "rapid reset");
            }
            break;
        case NGHTTP2_PING:
            if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && s.goaway == Goaway::notice_sent &&
                std::memcmp(frame->ping.opaque_data, kGoawayPing.data(), kGoawayPing.size()) == 0) {
                nghttp2_submit_goaway(s.session, NGHTTP2_FLAG_NONE,
                                      nghttp2_session_get_last_proc_stream_id(s.session),
                                      NGHTTP2_NO_ERROR, nullptr, 0);
                s.goaway = Goaway::final_sent;
            }
            break;
        case NGHTTP2_GOAWAY:
            s.client_goaway = true;
            break;
        default:
            break;
    }
    return 0;
}

int ServerSession::Impl::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                                       const std::uint8_t* data, std::size_t len, void* p) {
    auto& s = impl(p);
    Stream* st = s.find(id);
    if (st == nullptr || st->caller_done) {
        s.to_consume.emplace_back(id, len);  // nobody reads it: re-open the window at once
        return 0;
    }
    st->body_in.append(reinterpret_cast<const char*>(data), len);
    if (!st->data_event_queued) {
        st->data_event_queued = true;
        s.events.push_back({Pending::data, id});
    }
    return 0;
}

int ServerSession::Impl::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code,
                                         void* p) {
    auto& s = impl(p);
    auto it = s.streams.find(id);
    if (it == s.streams.end()) {
        return 0;
    }
    Stream& st = *it->second;
    if (!st.caller_done && st.head_delivered) {
        s.events.push_back({Pending::reset, id, static_cast<ErrorCode>(code), st.reset_by_client});
    }
    s.connection_to_consume += st.body_in.size();
    if (code == 0 && !st.reset_by_client) {
        s.resets.credit(1);  // completed streams earn back room for cancellations
    }
    s.streams.erase(it);
    return 0;
}

void ServerSession::Impl::on_response_end(std::int32_t id, Stream& st) {
    st.response_complete = true;
    if (!st.request_ended) {
        // RFC 9113 8.1: a complete response before the whole request; ask the client to stop.
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
}

int ServerSession::Impl::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = impl(p);
    const std::int32_t id = frame->hd.stream_id;
    if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0) {
        s.credit_work();  // the client's WINDOW_UPDATEs (and BDP PINGs) follow our DATA
    }
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        if (Stream* st = s.find(id)) {
            s.on_response_end(id, *st);
        }
    }
    return 0;
}

// A frame nghttp2 rejected as a stream error (malformed request, bad content-length, ...): a
// glitch, paid for from the flood budget.
int ServerSession::Impl::on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* p) {
    return impl(p).spend_flood();
}

int ServerSession::Impl::on_error(nghttp2_session*, int lib_error, const char*, std::size_t,
                                  void* p) {
    impl(p).last_lib_error = lib_error;
    return 0;
}

ssize_t ServerSession::Impl::read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                                       std::size_t length, std::uint32_t* flags,
                                       nghttp2_data_source*, void* p) {
    auto& s = impl(p);
    Stream* st = s.find(id);
    if (st == nullptr) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const std::size_t n = std::min(st->queued(), length);
    std::memcpy(buf, st->body_out.data() + st->body_out_pos, n);
    st->body_out_pos += n;
    if (st->queued() == 0) {
        st->body_out.clear();
        st->body_out_pos = 0;
        if (st->out_end) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (st->has_out_trailers) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                std::vector<nghttp2_nv> nva;
                for (auto& [name, value] : st->out_trailers) {
                    nva.push_back({bytes(name), bytes(value), name.size(), value.size(),
                                   NGHTTP2_NV_FLAG_NONE});
                }
                nghttp2_submit_trailer(s.session, id, nva.data(), nva.size());
            }
        } else if (n == 0) {
            return NGHTTP2_ERR_DEFERRED;  // resumed by submit_data / submit_trailers
        }
    }
    return static_cast<ssize_t>(n);
}

void ServerSession::Impl::apply_consumes() {
    for (auto [id, n] : to_consume) {
        nghttp2_session_consume(session, id, n);
    }
    to_consume.clear();
    if (connection_to_consume > 0) {
        nghttp2_session_consume_connection(session, connection_to_consume);
        connection_to_consume = 0;
    }
}

void ServerSession::Impl::terminate(Status status) {
    if (!failure.failed || failure.reason.empty()) {
        failure = status;
    }
    failure.failed = true;
    if (!terminated) {
        terminated = true;
        nghttp2_session_terminate_session(session, static_cast<std::uint32_t>(failure.code));
    }
}

void ServerSession::Impl::pull_output() {
    while (out.size() - out_pos < settings.output_high_water) {
        const std::uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session, &data);
        if (n > 0) {
            out.append(view(data, static_cast<std::size_t>(n)));
        }
        if (failure.failed && !terminated) {
            terminate(failure);  // a defence tripped in a callback while encoding
            continue;
        }
        if (n < 0) {
            failure = {ErrorCode::internal_error, nghttp2_strerror(static_cast<int>(n)), true};
            terminated = true;  // nghttp2 cannot send any more
            break;
        }
        if (n == 0) {
            break;
        }
    }
    apply_consumes();
}

ServerSession::ServerSession(const Settings& settings, Clock clock)
    : impl_(std::make_unique<Impl>(settings, clock)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, &Impl::on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Impl::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Impl::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Impl::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Impl::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Impl::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Impl::on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &Impl::on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cb, &Impl::on_error);

    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);  // the caller's consume re-opens windows
    nghttp2_option_set_max_outbound_ack(opt, settings.max_outbound_ack);
    nghttp2_option_set_max_continuations(opt, settings.max_continuations);
    // nghttp2's own RST_STREAM rate limit (burst 1000, 33/s) stays on, below our reset budget.

    nghttp2_session_server_new2(&impl_->session, cb, impl_.get(), opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);

    const std::array<nghttp2_settings_entry, 6> iv = {{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_stream_window},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings.max_frame_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list_size},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, settings.header_table_size},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},  // no priority tree to build or attack
    }};
    nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
    nghttp2_session_set_local_window_size(impl_->session, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(settings.connection_window));
}

ServerSession::~ServerSession() {
    nghttp2_session_del(impl_->session);
}

Status ServerSession::feed(std::string_view input) {
    auto& s = *impl_;
    if (s.failure.failed) {
        return s.failure;
    }
    const ssize_t rv = nghttp2_session_mem_recv(
        s.session, reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    s.apply_consumes();
    if (s.failure.failed) {  // one of our defences, from a callback
        s.terminate(s.failure);
    } else if (rv < 0) {
        const int e = static_cast<int>(rv);
        std::string_view reason = nghttp2_strerror(e);
        if (e == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
            reason = "bad connection preface";
        } else if (e == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
            reason = "too many CONTINUATION frames";
        } else if (e == NGHTTP2_ERR_FLOODED) {
            reason = "acks not read (flood)";
        }
        s.terminate({code_of_lib_error(e), reason, true});
    } else if (nghttp2_session_want_read(s.session) == 0 && !s.client_goaway &&
               s.goaway == Impl::Goaway::none) {
        // nghttp2 found a connection error and queued its GOAWAY itself.
        s.failure = {code_of_lib_error(s.last_lib_error),
                     s.last_lib_error != 0 ? nghttp2_strerror(s.last_lib_error) : "protocol error",
                     true};
        s.terminated = true;
    }
    return s.failure;
}

std::optional<Event> ServerSession::next_event() {
    auto& s = *impl_;
    while (!s.events.empty()) {
        const auto e = s.events.front();
        s.events.pop_front();
        if (e.kind == Impl::Pending::reset) {
            return StreamResetEvent{e.stream_id, e.code, e.by_client};
        }
        Stream* st = s.find(e.stream_id);
        if (st == nullptr || st->caller_done) {
            continue;
        }
        switch (e.kind) {
            case Impl::Pending::head:
                st->head_delivered = true;
                return RequestHeadEvent{e.stream_id, std::move(st->head)};
            case Impl::Pending::data: {
                st->data_event_queued = false;
                RequestDataEvent ev{e.stream_id, std::move(st->body_in)};
                st->body_in = std::string{};
                return ev;
            }
            case Impl::Pending::end:
                return RequestEndEvent{e.stream_id, std::move(st->trailers)};
            case Impl::Pending::reset:
                break;
        }
    }
    return std::nullopt;
}

void ServerSession::consume_request_data(std::int32_t stream_id, std::size_t n) {
    if (n > 0 && !impl_->failure.failed) {
        nghttp2_session_consume(impl_->session, stream_id, n);
    }
}

bool ServerSession::submit_response(std::int32_t stream_id, const ResponseHead& head,
                                    bool end_stream) {
    auto& s = *impl_;
    Stream* st = s.find(stream_id);
    if (st == nullptr || st->caller_done || st->final_head_sent || !st->head_delivered ||
        head.status < 100 || head.status > 999) {
        return false;
    }
    char digits[3] = {static_cast<char>('0' + head.status / 100),
                      static_cast<char>('0' + head.status / 10 % 10),
                      static_cast<char>('0' + head.status % 10)};
    std::vector<nghttp2_nv> nva;
    nva.reserve(head.headers.size() + 1);
    nva.push_back({bytes(":status"), bytes({digits, 3}), 7, 3, NGHTTP2_NV_FLAG_NONE});
    build_fields(head.headers, s.scratch, nva);
    if (head.status < 200) {
        return nghttp2_submit_headers(s.session, NGHTTP2_FLAG_NONE, stream_id, nullptr, nva.data(),
                                      nva.size(), nullptr) == 0;
    }
    st->final_head_sent = true;
    if (end_stream) {
        s.end_for_caller(*st, stream_id);
        return nghttp2_submit_response(s.session, stream_id, nva.data(), nva.size(), nullptr) == 0;
    }
    nghttp2_data_provider provider{};
    provider.read_callback = &Impl::read_body;
    return nghttp2_submit_response(s.session, stream_id, nva.data(), nva.size(), &provider) == 0;
}

bool ServerSession::submit_data(std::int32_t stream_id, std::string_view data, bool end_stream) {
    auto& s = *impl_;
    Stream* st = s.find(stream_id);
    if (st == nullptr || st->caller_done || !st->final_head_sent) {
        return false;
    }
    st->body_out.append(data);
    if (end_stream) {
        st->out_end = true;
        s.end_for_caller(*st, stream_id);
    }
    nghttp2_session_resume_data(s.session, stream_id);
    return true;
}

bool ServerSession::submit_trailers(std::int32_t stream_id, const HeaderMap& trailers) {
    auto& s = *impl_;
    Stream* st = s.find(stream_id);
    if (st == nullptr || st->caller_done || !st->final_head_sent) {
        return false;
    }
    std::vector<nghttp2_nv> nva;
    build_fields(trailers, s.scratch, nva);
    for (const auto& nv : nva) {
        st->out_trailers.emplace_back(view(nv.name, nv.namelen), view(nv.value, nv.valuelen));
    }
    st->has_out_trailers = !st->out_trailers.empty();
    st->out_end = true;
    s.end_for_caller(*st, stream_id);
    nghttp2_session_resume_data(s.session, stream_id);
    return true;
}

void ServerSession::reset_stream(std::int32_t stream_id, ErrorCode code) {
    auto& s = *impl_;
    if (Stream* st = s.find(stream_id)) {
        s.end_for_caller(*st, stream_id);
        st->body_out.clear();
        st->body_out_pos = 0;
        nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, stream_id,
                                  static_cast<std::uint32_t>(code));
    }
}

void ServerSession::submit_goaway_graceful() {
    auto& s = *impl_;
    if (s.goaway != Impl::Goaway::none || s.failure.failed) {
        return;
    }
    nghttp2_submit_shutdown_notice(s.session);
    nghttp2_submit_ping(s.session, NGHTTP2_FLAG_NONE, kGoawayPing.data());
    s.goaway = Impl::Goaway::notice_sent;
}

std::size_t ServerSession::stream_send_buffered(std::int32_t stream_id) const {
    const Stream* st = impl_->find(stream_id);
    return st == nullptr ? 0 : st->queued();
}

bool ServerSession::stream_send_stalled(std::int32_t stream_id) const {
    const Stream* st = impl_->find(stream_id);
    if (st == nullptr || st->queued() == 0) {
        return false;
    }
    return nghttp2_session_get_stream_remote_window_size(impl_->session, stream_id) <= 0 ||
           nghttp2_session_get_remote_window_size(impl_->session) <= 0;
}

std::size_t ServerSession::active_streams() const noexcept {
    return impl_->streams.size();
}

const Status& ServerSession::status() const noexcept {
    return impl_->failure;
}

std::string_view ServerSession::pending_output() {
    auto& s = *impl_;
    s.pull_output();
    return std::string_view{s.out}.substr(s.out_pos);
}

void ServerSession::consume_output(std::size_t n) {
    auto& s = *impl_;
    s.out_pos = std::min(s.out.size(), s.out_pos + n);
    if (s.out_pos == s.out.size()) {
        s.out.clear();
        s.out_pos = 0;
    } else if (s.out_pos >= s.settings.output_high_water) {
        s.out.erase(0, s.out_pos);
        s.out_pos = 0;
    }
}

bool ServerSession::wants_read() const noexcept {
    const auto& s = *impl_;
    if (s.failure.failed) {
        return false;
    }
    return s.goaway == Impl::Goaway::notice_sent || nghttp2_session_want_read(s.session) != 0;
}

bool ServerSession::wants_write() const noexcept {
    const auto& s = *impl_;
    return s.out_pos < s.out.size() || nghttp2_session_want_write(s.session) != 0;
}

}  // namespace usher::http::h2
