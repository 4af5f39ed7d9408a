// nghttp2's callbacks of a ServerSession: frames in, validated heads and events out, and the
// defences that judge each frame (see README.md). Called only from inside
// nghttp2_session_mem_recv / mem_send, i.e. from ServerSession::feed() and pending_output().
#include <charconv>

#include "http/h2/session_impl.hpp"

namespace usher::http::h2 {

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
    if (st == nullptr || st->caller_done) {
        return 0;
    }
    // HPACK bomb: a few encoded bytes can name a large table entry many times. Stop storing at
    // the advertised limit (nghttp2 keeps decoding so the HPACK state stays in sync): a head
    // just too large gets a 431. Far beyond it (kH2BombFactor times), it is an attack whose
    // decoding alone costs CPU: the connection ends at once.
    st->header_list_size += namelen + valuelen + 32;
    if (st->header_list_size >
        static_cast<std::size_t>(s.settings.max_header_list_size) * limits::kH2BombFactor) {
        return s.fail(ErrorCode::enhance_your_calm, "HPACK bomb");
    }
    if (st->oversized) {
        return 0;
    }
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
    h.version = Version::http2;
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

}  // namespace usher::http::h2
