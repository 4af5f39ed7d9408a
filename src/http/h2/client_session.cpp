#include "http/h2/client_session.hpp"

#include <algorithm>
#include <array>
#include <type_traits>

#include "http/h2/client_impl.hpp"

namespace usher::http::h2 {

namespace {

using client_detail::as_bytes;
using client_detail::as_view;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Calls `fn` for each token of a comma-separated field value.
template <typename Fn>
void for_each_token(std::string_view list, Fn&& fn) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        const auto token = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (!token.empty()) {
            fn(token);
        }
    }
}

bool listed_in_connection(const HeaderMap& headers, std::string_view name) {
    bool found = false;
    for (const auto& f : headers) {
        if (iequals(f.name, "connection")) {
            for_each_token(f.value, [&](std::string_view t) { found = found || iequals(t, name); });
        }
    }
    return found;
}

// Fields that describe one HTTP/1 hop and are malformed in HTTP/2 (RFC 9113 8.2.2), and Host,
// which becomes :authority (8.3.1).
bool hop_field(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade" || lower_name == "host" || lower_name == "te";
}

// Appends the fields of `headers` we may send to `out`, names lowercased into `names` (sized
// once, so the views in `out` stay valid). TE survives only as "te: trailers".
void build_fields(const HeaderMap& headers, std::string& names, std::vector<nghttp2_nv>& out) {
    std::size_t total = 0;
    for (const auto& f : headers) {
        total += f.name.size();
    }
    names.assign(total, '\0');
    std::size_t at = 0;
    bool te_trailers = false;
    for (const auto& f : headers) {
        if (f.name.empty() || f.name.front() == ':') {
            continue;
        }
        char* lower = names.data() + at;
        std::transform(f.name.begin(), f.name.end(), lower, [](char c) {
            return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        });
        const std::string_view name{lower, f.name.size()};
        if (name == "te") {
            for_each_token(f.value, [&](std::string_view t) {
                te_trailers = te_trailers || iequals(t, "trailers");
            });
        }
        if (hop_field(name) || listed_in_connection(headers, name)) {
            continue;
        }
        at += name.size();
        out.push_back(
            {as_bytes(name), as_bytes(f.value), name.size(), f.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    if (te_trailers) {
        out.push_back({as_bytes("te"), as_bytes("trailers"), 2, 8, NGHTTP2_NV_FLAG_NONE});
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

std::int32_t stream_of(const ClientEvent& e) {
    return std::visit(
        [](const auto& ev) -> std::int32_t {
            if constexpr (std::is_same_v<std::decay_t<decltype(ev)>, GoawayEvent>) {
                return 0;
            } else {
                return ev.stream_id;
            }
        },
        e);
}

}  // namespace

void ClientSession::Impl::drop_events(std::int32_t id) {
    std::erase_if(events, [&](const ClientEvent& e) {
        if (stream_of(e) != id) {
            return false;
        }
        if (const auto* data = std::get_if<ResponseDataEvent>(&e)) {
            to_consume.emplace_back(id, data->data.size());
        }
        return true;
    });
}

void ClientSession::Impl::apply_consumes() {
    for (auto [id, n] : to_consume) {
        nghttp2_session_consume(session, id, n);
    }
    to_consume.clear();
}

void ClientSession::Impl::terminate(Status status) {
    if (!failure.failed || failure.reason.empty()) {
        failure = status;
    }
    failure.failed = true;
    if (!terminated) {
        terminated = true;
        nghttp2_session_terminate_session(session, static_cast<std::uint32_t>(failure.code));
    }
    fail_streams(failure.code);
}

// Streams whose HEADERS never left get `unsent_code`, the others the failure's code.
void ClientSession::Impl::fail_streams(ErrorCode unsent_code) {
    // In stream id order, so the caller sees a stable sequence.
    std::vector<std::int32_t> ids;
    for (const auto& [id, st] : streams) {
        if (!st->caller_done && !st->response_ended && !st->rejected) {
            ids.push_back(id);
        }
    }
    std::sort(ids.begin(), ids.end());
    for (const auto id : ids) {
        Stream& st = *streams[id];
        st.caller_done = true;
        close_event(id, st.head_sent ? failure.code : unsent_code, failure.reason);
    }
}

void ClientSession::Impl::pull_output() {
    while (out.size() - out_pos < settings.output_high_water) {
        const std::uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session, &data);
        if (n > 0) {
            out.append(as_view(data, static_cast<std::size_t>(n)));
        }
        if (n < 0) {
            terminated = true;  // nghttp2 cannot send any more
            terminate({ErrorCode::internal_error, nghttp2_strerror(static_cast<int>(n)), true});
            break;
        }
        if (n == 0) {
            break;
        }
    }
    apply_consumes();
}

ClientSession::ClientSession(const ClientSettings& settings)
    : impl_(std::make_unique<Impl>(settings)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Impl::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Impl::on_header);
    nghttp2_session_callbacks_set_on_invalid_header_callback(cb, &Impl::on_invalid_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Impl::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Impl::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Impl::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Impl::on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, &Impl::on_frame_not_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &Impl::on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cb, &Impl::on_error);

    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);  // the caller's consume re-opens windows
    nghttp2_option_set_max_continuations(opt, limits::kH2MaxContinuations);
    nghttp2_session_client_new2(&impl_->session, cb, impl_.get(), opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);

    const std::array<nghttp2_settings_entry, 4> iv = {{
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list_size},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    }};
    nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
    nghttp2_session_set_local_window_size(impl_->session, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(settings.connection_window));
}

ClientSession::~ClientSession() {
    nghttp2_session_del(impl_->session);
}

std::int32_t ClientSession::submit_request(const RequestHead& head, std::string_view scheme,
                                           bool end_stream) {
    auto& s = *impl_;
    const std::string_view path = head.path.empty() ? head.target : head.path;
    if (!can_open_stream() || head.method.empty() || head.method == "CONNECT" || path.empty() ||
        scheme.empty()) {
        return -1;
    }
    std::string_view authority = head.authority;
    if (authority.empty()) {
        if (const HeaderField* host = head.headers.find("host")) {
            authority = host->value;
        }
    }
    std::vector<nghttp2_nv> nva;
    nva.reserve(head.headers.size() + 5);
    nva.push_back(
        {as_bytes(":method"), as_bytes(head.method), 7, head.method.size(), NGHTTP2_NV_FLAG_NONE});
    nva.push_back({as_bytes(":scheme"), as_bytes(scheme), 7, scheme.size(), NGHTTP2_NV_FLAG_NONE});
    if (!authority.empty()) {
        nva.push_back({as_bytes(":authority"), as_bytes(authority), 10, authority.size(),
                       NGHTTP2_NV_FLAG_NONE});
    }
    nva.push_back({as_bytes(":path"), as_bytes(path), 5, path.size(), NGHTTP2_NV_FLAG_NONE});
    build_fields(head.headers, s.scratch, nva);

    auto st = std::make_unique<Impl::Stream>();
    st->head_request = head.method == "HEAD";
    st->request_ended = end_stream;
    nghttp2_data_provider provider{};
    provider.read_callback = &Impl::read_body;
    const std::int32_t id = nghttp2_submit_request(s.session, nullptr, nva.data(), nva.size(),
                                                   end_stream ? nullptr : &provider, nullptr);
    if (id < 0) {
        return -1;
    }
    s.streams[id] = std::move(st);
    return id;
}

bool ClientSession::submit_data(std::int32_t stream_id, std::string_view data, bool end_stream) {
    auto& s = *impl_;
    Impl::Stream* st = s.find(stream_id);
    if (st == nullptr || st->caller_done || st->request_ended) {
        return false;
    }
    st->body_out.append(data);
    st->request_ended = end_stream;
    nghttp2_session_resume_data(s.session, stream_id);
    return true;
}

bool ClientSession::submit_trailers(std::int32_t stream_id, const HeaderMap& trailers) {
    auto& s = *impl_;
    Impl::Stream* st = s.find(stream_id);
    if (st == nullptr || st->caller_done || st->request_ended) {
        return false;
    }
    std::vector<nghttp2_nv> nva;
    build_fields(trailers, s.scratch, nva);
    for (const auto& nv : nva) {
        st->out_trailers.emplace_back(as_view(nv.name, nv.namelen), as_view(nv.value, nv.valuelen));
    }
    st->request_ended = true;
    nghttp2_session_resume_data(s.session, stream_id);
    return true;
}

void ClientSession::reset_stream(std::int32_t stream_id, ErrorCode code) {
    auto& s = *impl_;
    if (Impl::Stream* st = s.find(stream_id)) {
        st->caller_done = true;
        st->body_out.clear();
        st->body_out_pos = 0;
        nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, stream_id,
                                  static_cast<std::uint32_t>(code));
    }
    s.drop_events(stream_id);
    if (!s.failure.failed) {
        s.apply_consumes();
    } else {
        s.to_consume.clear();
    }
}

Status ClientSession::feed(std::string_view input) {
    auto& s = *impl_;
    if (s.failure.failed) {
        return s.failure;
    }
    const ssize_t rv = nghttp2_session_mem_recv(
        s.session, reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    s.apply_consumes();
    if (rv < 0) {
        const int e = static_cast<int>(rv);
        s.terminate({code_of_lib_error(e), nghttp2_strerror(e), true});
    } else if (nghttp2_session_want_read(s.session) == 0 && !s.goaway_received) {
        // nghttp2 found a connection error and queued its GOAWAY itself.
        s.terminated = true;
        s.terminate({code_of_lib_error(s.last_lib_error),
                     s.last_lib_error != 0 ? nghttp2_strerror(s.last_lib_error) : "protocol error",
                     true});
    } else {
        // Some connection errors only show when nghttp2 encodes its GOAWAY (on_frame_send).
        s.pull_output();
    }
    return s.failure;
}

void ClientSession::connection_lost() {
    auto& s = *impl_;
    if (s.failure.failed) {
        return;
    }
    s.failure = {ErrorCode::internal_error, "connection lost", true};
    s.terminated = true;
    s.lost = true;  // nothing more can be written
    s.out.clear();
    s.out_pos = 0;
    s.fail_streams(ErrorCode::refused_stream);
}

std::optional<ClientEvent> ClientSession::next_event() {
    auto& s = *impl_;
    if (s.events.empty()) {
        return std::nullopt;
    }
    ClientEvent e = std::move(s.events.front());
    s.events.pop_front();
    return e;
}

void ClientSession::consume_response_data(std::int32_t stream_id, std::size_t n) {
    if (n > 0 && !impl_->failure.failed) {
        nghttp2_session_consume(impl_->session, stream_id, n);
    }
}

std::string_view ClientSession::pending_output() {
    auto& s = *impl_;
    s.pull_output();
    return std::string_view{s.out}.substr(s.out_pos);
}

void ClientSession::consume_output(std::size_t n) {
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

std::size_t ClientSession::stream_send_buffered(std::int32_t stream_id) const {
    const Impl::Stream* st = impl_->find(stream_id);
    return st == nullptr ? 0 : st->queued();
}

bool ClientSession::can_open_stream() const noexcept {
    const auto& s = *impl_;
    if (s.failure.failed || s.goaway_received ||
        nghttp2_session_check_request_allowed(s.session) == 0) {
        return false;
    }
    const std::uint32_t limit =
        nghttp2_session_get_remote_settings(s.session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return s.streams.size() < limit;
}

std::size_t ClientSession::active_streams() const noexcept {
    return impl_->streams.size();
}

bool ClientSession::wants_read() const noexcept {
    const auto& s = *impl_;
    return !s.failure.failed && nghttp2_session_want_read(s.session) != 0;
}

bool ClientSession::wants_write() const noexcept {
    const auto& s = *impl_;
    if (s.lost) {
        return false;
    }
    return s.out_pos < s.out.size() || nghttp2_session_want_write(s.session) != 0;
}

const Status& ClientSession::status() const noexcept {
    return impl_->failure;
}

void ClientSession::submit_ping() {
    if (!impl_->failure.failed) {
        nghttp2_submit_ping(impl_->session, NGHTTP2_FLAG_NONE, nullptr);
    }
}

std::uint64_t ClientSession::ping_acks() const noexcept {
    return impl_->ping_acks;
}

}  // namespace usher::http::h2
