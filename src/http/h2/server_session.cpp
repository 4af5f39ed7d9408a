#include "http/h2/server_session.hpp"

#include "http/h2/session_impl.hpp"

namespace usher::http::h2 {

namespace {

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
