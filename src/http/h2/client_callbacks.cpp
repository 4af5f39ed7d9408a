// nghttp2's callbacks of a ClientSession: response frames in, validated heads and events out.
// Called only from inside nghttp2_session_mem_recv / mem_send, i.e. from ClientSession::feed()
// and pending_output().
//
// nghttp2's HTTP messaging checks (on by default) reject most malformed responses before we see
// them: :status not 3 digits or 101, missing or repeated, other pseudo-headers, pseudo-headers
// after regular fields or in trailers, uppercase names, connection-specific fields, TE other
// than "trailers", content-length not digits, repeated or not matching the DATA, DATA before
// the final head or on a HEAD/204/304 response, trailers without END_STREAM. Each resets the
// stream with PROTOCOL_ERROR and reaches us as on_invalid_frame + on_stream_close.
#include <charconv>

#include "http/h2/client_impl.hpp"

namespace usher::http::h2 {

int ClientSession::Impl::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = client_impl(p);
    if (Stream* st = s.find(frame->hd.stream_id)) {
        st->header_list_size = 0;
        st->oversized = false;
    }
    return 0;
}

int ClientSession::Impl::on_header(nghttp2_session*, const nghttp2_frame* frame,
                                   const std::uint8_t* name_p, std::size_t namelen,
                                   const std::uint8_t* value_p, std::size_t valuelen, std::uint8_t,
                                   void* p) {
    auto& s = client_impl(p);
    Stream* st = s.find(frame->hd.stream_id);
    if (st == nullptr || st->caller_done || st->oversized || st->rejected) {
        return 0;
    }
    // A backend's header list is bounded like a client's: stop storing at the advertised limit
    // (nghttp2 keeps decoding so the HPACK state stays in sync); the stream is reset when the
    // block ends.
    st->header_list_size += namelen + valuelen + 32;
    if (st->header_list_size > s.settings.max_header_list_size) {
        st->oversized = true;
        st->head = ResponseHead{};
        st->trailers.clear();
        return 0;
    }
    const auto name = client_detail::as_view(name_p, namelen);
    const auto value = client_detail::as_view(value_p, valuelen);
    if (st->final_head) {
        st->trailers.add_copy(name, value);  // nghttp2 rejects pseudo-headers in trailers
        return 0;
    }
    auto& h = st->head;
    if (!name.empty() && name.front() == ':') {
        // nghttp2 allows only one :status of exactly 3 digits here; the parse is a second guard.
        std::uint16_t status = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), status);
        if (name != ":status" || value.size() != 3 || ec != std::errc{} ||
            end != value.data() + value.size() || status < 100) {
            s.reject(frame->hd.stream_id, *st, "malformed response");
            return 0;
        }
        h.status = status;
        return 0;
    }
    h.headers.add_copy(name, value);
    return 0;
}

// A field nghttp2 would silently drop (a name or value with characters RFC 9113 forbids): a
// proxy must not pass a response on without it, so the stream is malformed.
int ClientSession::Impl::on_invalid_header(nghttp2_session*, const nghttp2_frame* frame,
                                           const std::uint8_t*, std::size_t, const std::uint8_t*,
                                           std::size_t, std::uint8_t, void* p) {
    auto& s = client_impl(p);
    if (Stream* st = s.find(frame->hd.stream_id); st != nullptr && st->close_reason.empty()) {
        st->close_reason = "invalid response header";
    }
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets with PROTOCOL_ERROR
}

void ClientSession::Impl::queue_head(std::int32_t id, Stream& st, bool end_stream) {
    auto& h = st.head;
    if (h.status < 200 && end_stream) {
        reject(id, st, "interim response ends the stream");
        return;
    }
    h.version = Version::http2;
    h.reason = reason_phrase(h.status);
    h.framing = BodyFraming::none;
    if (const HeaderField* cl = h.headers.find("content-length")) {
        auto [end, ec] = std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(),
                                         h.content_length);
        if (cl->value.empty() || ec != std::errc{} || end != cl->value.data() + cl->value.size()) {
            reject(id, st, "bad content-length");
            return;
        }
    }
    const bool bodyless =
        h.status < 200 || h.status == 204 || h.status == 304 || st.head_request || end_stream;
    if (!bodyless) {
        h.framing = h.headers.contains("content-length") ? BodyFraming::content_length
                                                         : BodyFraming::chunked;
    }
    if (h.status >= 200) {
        st.final_head = true;
    }
    events.emplace_back(ResponseHeadEvent{id, std::move(h)});
    st.head = ResponseHead{};
    if (end_stream) {
        st.response_ended = true;
        events.emplace_back(ResponseEndEvent{id, {}});
    }
}

int ClientSession::Impl::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = client_impl(p);
    const std::int32_t id = frame->hd.stream_id;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    Stream* st = id != 0 ? s.find(id) : nullptr;
    switch (frame->hd.type) {
        case NGHTTP2_HEADERS:
            if (st == nullptr || st->caller_done || st->response_ended || st->rejected) {
                break;
            }
            if (st->oversized) {
                s.reject(id, *st, "response header list too large");
                break;
            }
            if (!st->final_head) {
                s.queue_head(id, *st, end_stream);
            } else if (end_stream) {  // trailers (nghttp2 rejects them without END_STREAM)
                st->response_ended = true;
                s.events.emplace_back(ResponseEndEvent{id, std::move(st->trailers)});
                st->trailers = HeaderMap{};
            }
            break;
        case NGHTTP2_DATA:
            if (st != nullptr && end_stream && !st->caller_done && !st->response_ended &&
                !st->rejected) {
                st->response_ended = true;
                s.events.emplace_back(ResponseEndEvent{id, {}});
            }
            break;
        case NGHTTP2_RST_STREAM:
            if (st != nullptr) {
                st->reset_by_peer = true;
            }
            break;
        case NGHTTP2_GOAWAY:
            // nghttp2 closes our streams above last_stream_id right after this callback, with
            // REFUSED_STREAM (see on_stream_close), so the GoawayEvent comes first.
            s.goaway_received = true;
            s.events.emplace_back(GoawayEvent{frame->goaway.last_stream_id,
                                              static_cast<ErrorCode>(frame->goaway.error_code)});
            break;
        case NGHTTP2_PING:
            if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
                ++s.ping_acks;
            }
            break;
        default:
            break;
    }
    return 0;
}

int ClientSession::Impl::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                                       const std::uint8_t* data, std::size_t len, void* p) {
    auto& s = client_impl(p);
    Stream* st = s.find(id);
    if (st == nullptr || st->caller_done || st->rejected) {
        s.to_consume.emplace_back(id, len);  // nobody reads it: re-open the window at once
        return 0;
    }
    const auto bytes = client_detail::as_view(data, len);
    if (!s.events.empty()) {
        // Consecutive chunks of one stream coalesce into the event not yet pulled.
        if (auto* last = std::get_if<ResponseDataEvent>(&s.events.back());
            last != nullptr && last->stream_id == id) {
            last->data.append(bytes);
            return 0;
        }
    }
    s.events.emplace_back(ResponseDataEvent{id, std::string(bytes)});
    return 0;
}

int ClientSession::Impl::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code,
                                         void* p) {
    auto& s = client_impl(p);
    auto it = s.streams.find(id);
    if (it == s.streams.end()) {
        return 0;
    }
    const Stream& st = *it->second;
    if (!st.caller_done && !st.response_ended) {
        // Our reset may come after nghttp2 closed the stream on its own (END_STREAM both ways).
        const ErrorCode error =
            st.rejected ? ErrorCode::protocol_error : static_cast<ErrorCode>(code);
        std::string_view reason = st.close_reason;
        if (reason.empty()) {
            if (st.reset_by_peer) {
                reason = "reset by backend";
            } else if (code == NGHTTP2_REFUSED_STREAM) {
                reason = "refused by GOAWAY";
            } else {
                reason = "stream closed";
            }
        }
        s.close_event(id, error, reason);
    }
    s.streams.erase(it);
    return 0;
}

// Marks request heads as written, and catches a GOAWAY we did not ask for: nghttp2 found a
// connection error while reading (DATA on stream 0, a bad SETTINGS value, ...) and terminated the
// session itself.
int ClientSession::Impl::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* p) {
    auto& s = client_impl(p);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (Stream* st = s.find(frame->hd.stream_id)) {
            st->head_sent = true;
        }
    }
    if (frame->hd.type == NGHTTP2_GOAWAY && !s.terminated) {
        s.terminated = true;
        const auto code = static_cast<ErrorCode>(frame->goaway.error_code);
        s.terminate({code,
                     s.last_lib_error != 0 ? nghttp2_strerror(s.last_lib_error)
                                           : "connection error from backend",
                     true});
    }
    return 0;
}

// A request HEADERS nghttp2 gave up before sending: a GOAWAY arrived meanwhile or ids ran out
// (the stream never existed on the wire: refused, retry elsewhere), or the head is larger than
// nghttp2 sends (64 KiB encoded; retrying would not help).
int ClientSession::Impl::on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame,
                                           int lib_error, void* p) {
    auto& s = client_impl(p);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    auto it = s.streams.find(frame->hd.stream_id);
    if (it == s.streams.end()) {
        return 0;
    }
    if (!it->second->caller_done) {
        if (lib_error == NGHTTP2_ERR_FRAME_SIZE_ERROR) {
            s.close_event(frame->hd.stream_id, ErrorCode::internal_error, "request head too large");
        } else {
            s.close_event(frame->hd.stream_id, ErrorCode::refused_stream, "request not sent");
        }
    }
    s.streams.erase(it);
    return 0;
}

// A frame nghttp2 rejected as a stream error: the stream's close carries PROTOCOL_ERROR.
int ClientSession::Impl::on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int,
                                          void* p) {
    auto& s = client_impl(p);
    if (Stream* st = s.find(frame->hd.stream_id); st != nullptr && st->close_reason.empty()) {
        st->close_reason = "malformed response";
    }
    return 0;
}

int ClientSession::Impl::on_error(nghttp2_session*, int lib_error, const char*, std::size_t,
                                  void* p) {
    client_impl(p).last_lib_error = lib_error;
    return 0;
}

ssize_t ClientSession::Impl::read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                                       std::size_t length, std::uint32_t* flags,
                                       nghttp2_data_source*, void* p) {
    auto& s = client_impl(p);
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
        if (st->request_ended) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (!st->out_trailers.empty()) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                std::vector<nghttp2_nv> nva;
                nva.reserve(st->out_trailers.size());
                for (auto& [name, value] : st->out_trailers) {
                    nva.push_back({client_detail::as_bytes(name), client_detail::as_bytes(value),
                                   name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
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
