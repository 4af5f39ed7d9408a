// ServerSession against a real nghttp2 client session (bytes pumped in memory) and against raw
// frames built by hand for the attacks a well-behaved client library would never send.
#include "http/h2/server_session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace usher::http::h2 {
namespace {

using namespace std::chrono_literals;

// Frozen time for the token buckets; tests advance it explicitly.
std::chrono::steady_clock::time_point g_now{};
std::chrono::steady_clock::time_point fake_now() {
    return g_now;
}

// ---------------------------------------------------------------------------------------------
// A real nghttp2 client.

struct ClientStream {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::pair<std::string, std::string>> trailers;
    std::string body;
    bool closed = false;
    std::uint32_t close_code = 0;
    // Request body source.
    std::string upload;
    std::size_t upload_pos = 0;
    std::vector<std::pair<std::string, std::string>> upload_trailers;

    bool has_header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) {
                return true;
            }
        }
        return false;
    }
};

class Client {
  public:
    explicit Client(bool auto_window_update = true,
                    std::vector<nghttp2_settings_entry> settings = {},
                    std::size_t max_send_header_block = 0) {
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, &Client::on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Client::on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Client::on_close);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Client::on_frame_recv);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, &Client::on_frame_send);
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        nghttp2_option_set_no_auto_window_update(opt, auto_window_update ? 0 : 1);
        if (max_send_header_block > 0) {
            nghttp2_option_set_max_send_header_block_length(opt, max_send_header_block);
        }
        nghttp2_session_client_new2(&session_, cb, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    }
    ~Client() { nghttp2_session_del(session_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Submits a request; `body` (with optional trailers) goes in DATA frames.
    std::int32_t request(std::string_view method, std::string_view path,
                         std::vector<std::pair<std::string, std::string>> extra = {},
                         std::optional<std::string> body = std::nullopt,
                         std::vector<std::pair<std::string, std::string>> trailers = {}) {
        std::vector<std::pair<std::string, std::string>> fields = {{":method", std::string(method)},
                                                                   {":scheme", "https"},
                                                                   {":authority", "example.com"},
                                                                   {":path", std::string(path)}};
        fields.insert(fields.end(), extra.begin(), extra.end());
        auto nva = to_nv(fields);
        auto cs = std::make_unique<ClientStream>();
        nghttp2_data_provider provider{};
        provider.read_callback = &Client::read_upload;
        if (body) {
            cs->upload = *body;
            cs->upload_trailers = std::move(trailers);
        }
        const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                                       body ? &provider : nullptr, nullptr);
        streams_[id] = std::move(cs);
        return id;
    }

    // Moves bytes both ways until neither side has anything to say.
    void pump(ServerSession& server, bool client_reads = true) {
        for (int round = 0; round < 10000; ++round) {
            bool moved = false;
            std::string to_server;
            const std::uint8_t* data = nullptr;
            for (ssize_t n; (n = nghttp2_session_mem_send(session_, &data)) > 0;) {
                to_server.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
            }
            if (!to_server.empty()) {
                last_status = server.feed(to_server);
                moved = true;
            }
            if (client_reads) {
                auto out = server.pending_output();
                if (!out.empty()) {
                    const auto rv = nghttp2_session_mem_recv(
                        session_, reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
                    EXPECT_EQ(rv, static_cast<ssize_t>(out.size()));
                    server.consume_output(out.size());
                    moved = true;
                }
            }
            if (!moved) {
                return;
            }
        }
        ADD_FAILURE() << "pump did not settle";
    }

    ClientStream& stream(std::int32_t id) { return *streams_.at(id); }
    nghttp2_session* session() { return session_; }
    void consume(std::int32_t id, std::size_t n) { nghttp2_session_consume(session_, id, n); }

    Status last_status;
    int data_frames_sent = 0;
    bool goaway_received = false;
    std::int32_t goaway_last_stream = -1;
    std::uint32_t goaway_code = 0;
    int goaways = 0;

  private:
    static std::vector<nghttp2_nv> to_nv(std::vector<std::pair<std::string, std::string>>& f) {
        std::vector<nghttp2_nv> nva;
        for (auto& [n, v] : f) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                           reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                           NGHTTP2_NV_FLAG_NONE});
        }
        return nva;
    }
    static Client& self(void* p) { return *static_cast<Client*>(p); }
    ClientStream* find(std::int32_t id) {
        auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second.get();
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t, void* p) {
        ClientStream* cs = self(p).find(frame->hd.stream_id);
        if (cs == nullptr) {
            return 0;
        }
        std::string n(reinterpret_cast<const char*>(name), namelen);
        std::string v(reinterpret_cast<const char*>(value), valuelen);
        if (n == ":status") {
            cs->status = std::stoi(v);
        } else if (cs->status >= 200 && frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
            cs->trailers.emplace_back(n, v);
        } else {
            cs->headers.emplace_back(n, v);
        }
        return 0;
    }
    static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                       std::size_t len, void* p) {
        if (ClientStream* cs = self(p).find(id)) {
            cs->body.append(reinterpret_cast<const char*>(d), len);
        }
        return 0;
    }
    static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* p) {
        if (ClientStream* cs = self(p).find(id)) {
            cs->closed = true;
            cs->close_code = code;
        }
        return 0;
    }
    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* p) {
        if (frame->hd.type == NGHTTP2_GOAWAY) {
            auto& c = self(p);
            c.goaway_received = true;
            c.goaway_last_stream = frame->goaway.last_stream_id;
            c.goaway_code = frame->goaway.error_code;
            ++c.goaways;
        }
        return 0;
    }
    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* p) {
        if (frame->hd.type == NGHTTP2_DATA) {
            ++self(p).data_frames_sent;
        }
        return 0;
    }
    static ssize_t read_upload(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                               std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                               void* p) {
        ClientStream& cs = *self(p).find(id);
        const std::size_t n = std::min(length, cs.upload.size() - cs.upload_pos);
        std::memcpy(buf, cs.upload.data() + cs.upload_pos, n);
        cs.upload_pos += n;
        if (cs.upload_pos == cs.upload.size()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (!cs.upload_trailers.empty()) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                auto nva = to_nv(cs.upload_trailers);
                nghttp2_submit_trailer(session, id, nva.data(), nva.size());
            }
        }
        return static_cast<ssize_t>(n);
    }

    nghttp2_session* session_ = nullptr;
    std::map<std::int32_t, std::unique_ptr<ClientStream>> streams_;
};

std::vector<Event> drain(ServerSession& server) {
    std::vector<Event> out;
    while (auto e = server.next_event()) {
        out.push_back(std::move(*e));
    }
    return out;
}

ResponseHead response(std::uint16_t status,
                      std::vector<std::pair<std::string_view, std::string_view>> fields = {}) {
    ResponseHead h;
    h.status = status;
    for (auto [n, v] : fields) {
        h.headers.add(n, v);
    }
    return h;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Raw frames and HPACK literals, for attacks.

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    std::string f;
    const auto len = static_cast<std::uint32_t>(payload.size());
    f.push_back(static_cast<char>(len >> 16));
    f.push_back(static_cast<char>(len >> 8));
    f.push_back(static_cast<char>(len));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    for (int shift = 24; shift >= 0; shift -= 8) {
        f.push_back(static_cast<char>((stream >> shift) & 0xff));
    }
    f.append(payload);
    return f;
}

// HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` carries the pattern bits.
std::string hpack_int(std::uint8_t first, int prefix_bits, std::size_t value) {
    std::string out;
    const std::size_t max = (1u << prefix_bits) - 1;
    if (value < max) {
        out.push_back(static_cast<char>(first | value));
        return out;
    }
    out.push_back(static_cast<char>(first | max));
    value -= max;
    while (value >= 128) {
        out.push_back(static_cast<char>(0x80 | (value & 0x7f)));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
    return out;
}

// Literal field without indexing, new name, no Huffman (RFC 7541 6.2.2).
std::string literal(std::string_view name, std::string_view value) {
    return hpack_int(0x00, 4, 0) + hpack_int(0x00, 7, name.size()) + std::string(name) +
           hpack_int(0x00, 7, value.size()) + std::string(value);
}

// A GET head: :method GET (static 2), :scheme https (7), :path /, :authority example.com.
std::string get_block(std::string_view extra = {}) {
    return std::string("\x82\x87\x84", 3) + literal(":authority", "example.com") +
           std::string(extra);
}

constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kPriority = 0x2, kRst = 0x3, kSettings = 0x4,
                       kPing = 0x6, kGoaway = 0x7, kWindowUpdate = 0x8, kContinuation = 0x9;
constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4;

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

struct RawFrame {
    std::uint8_t type;
    std::uint8_t flags;
    std::uint32_t stream;
    std::string payload;
};

// A hand-driven peer: feeds raw bytes to the server and decodes the frames it answers with.
class RawPeer {
  public:
    explicit RawPeer(Settings settings = {}) : server(settings, &fake_now) {
        send(std::string(kClientPreface) + frame(kSettings, 0, 0, ""));
    }

    Status send(std::string_view bytes) {
        status = server.feed(bytes);
        auto out = server.pending_output();
        received.append(out);
        server.consume_output(out.size());
        if (!server.status().ok()) {  // also found while encoding output
            status = server.status();
        }
        return status;
    }

    std::vector<RawFrame> frames() const {
        std::vector<RawFrame> out;
        std::string_view rest = received;
        while (rest.size() >= 9) {
            const auto* b = reinterpret_cast<const unsigned char*>(rest.data());
            const std::size_t len = (std::size_t{b[0]} << 16) | (std::size_t{b[1]} << 8) | b[2];
            const std::uint32_t stream = (std::uint32_t{b[5]} << 24 | std::uint32_t{b[6]} << 16 |
                                          std::uint32_t{b[7]} << 8 | b[8]) &
                                         0x7fffffffu;
            out.push_back({b[3], b[4], stream, std::string(rest.substr(9, len))});
            rest.remove_prefix(9 + len);
        }
        return out;
    }

    static std::uint32_t read_u32(std::string_view p, std::size_t at) {
        const auto* b = reinterpret_cast<const unsigned char*>(p.data() + at);
        return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 |
               b[3];
    }

    // The error code of the GOAWAY we got, if any.
    std::optional<std::uint32_t> goaway_code() const {
        for (const auto& f : frames()) {
            if (f.type == kGoaway) {
                return read_u32(f.payload, 4);
            }
        }
        return std::nullopt;
    }
    // The error code of the RST_STREAM we got for `stream`, if any.
    std::optional<std::uint32_t> rst_code(std::uint32_t stream) const {
        for (const auto& f : frames()) {
            if (f.type == kRst && f.stream == stream) {
                return read_u32(f.payload, 0);
            }
        }
        return std::nullopt;
    }
    bool headers_sent_on(std::uint32_t stream) const {
        for (const auto& f : frames()) {
            if (f.type == kHeaders && f.stream == stream) {
                return true;
            }
        }
        return false;
    }

    ServerSession server;
    Status status;
    std::string received;
};

constexpr std::uint32_t kEnhanceYourCalm = 0xb;
constexpr std::uint32_t kProtocolError = 0x1;

// ---------------------------------------------------------------------------------------------

TEST(H2Preface, DetectsPriorKnowledge) {
    EXPECT_EQ(match_preface(kClientPreface), PrefaceMatch::match);
    EXPECT_EQ(match_preface(std::string(kClientPreface) + "\x00\x00"), PrefaceMatch::match);
    EXPECT_EQ(match_preface("PRI * HTTP/2"), PrefaceMatch::need_more);
    EXPECT_EQ(match_preface(""), PrefaceMatch::need_more);
    EXPECT_EQ(match_preface("GET / HTTP/1.1\r\n"), PrefaceMatch::mismatch);
    EXPECT_EQ(match_preface("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"), PrefaceMatch::mismatch);
    EXPECT_TRUE(preface_matches(kClientPreface));
    EXPECT_FALSE(preface_matches("PRI * HTTP/2"));
}

TEST(H2ServerSession, GetBecomesProtocolNeutralHeadAndResponseFlows) {
    ServerSession server({}, &fake_now);
    Client client;
    const auto id =
        client.request("GET", "/a?b=1", {{"x-test", "1"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
    client.pump(server);
    ASSERT_TRUE(client.last_status.ok());
    auto events = drain(server);
    ASSERT_EQ(events.size(), 2u);
    const auto* head = std::get_if<RequestHeadEvent>(&events[0]);
    ASSERT_NE(head, nullptr);
    EXPECT_EQ(head->stream_id, id);
    EXPECT_EQ(head->head.method, "GET");
    EXPECT_EQ(head->head.path, "/a?b=1");
    EXPECT_EQ(head->head.target, "/a?b=1");
    EXPECT_EQ(head->head.authority, "example.com");
    ASSERT_NE(head->head.headers.find("host"), nullptr);
    EXPECT_EQ(head->head.headers.find("host")->value, "example.com");
    EXPECT_EQ(head->head.headers.find("x-test")->value, "1");
    EXPECT_EQ(head->head.headers.count("cookie"), 1u);
    EXPECT_EQ(head->head.headers.find("cookie")->value, "a=1; b=2");
    EXPECT_EQ(head->head.framing, BodyFraming::none);
    const auto* end = std::get_if<RequestEndEvent>(&events[1]);
    ASSERT_NE(end, nullptr);
    EXPECT_TRUE(end->trailers.empty());
    EXPECT_EQ(server.active_streams(), 1u);

    auto resp = response(200, {{"Content-Type", "text/plain"},
                               {"Connection", "close, X-Hop"},
                               {"X-Hop", "1"},
                               {"Keep-Alive", "timeout=5"},
                               {"Transfer-Encoding", "chunked"},
                               {"X-Up", "y"}});
    ASSERT_TRUE(server.submit_response(id, resp, false));
    ASSERT_TRUE(server.submit_data(id, "hello", true));
    EXPECT_FALSE(server.submit_data(id, "more", false));  // the caller already ended
    client.pump(server);
    auto& cs = client.stream(id);
    EXPECT_EQ(cs.status, 200);
    EXPECT_TRUE(cs.has_header("content-type"));
    EXPECT_TRUE(cs.has_header("x-up"));
    EXPECT_FALSE(cs.has_header("connection"));
    EXPECT_FALSE(cs.has_header("x-hop"));
    EXPECT_FALSE(cs.has_header("keep-alive"));
    EXPECT_FALSE(cs.has_header("transfer-encoding"));
    EXPECT_EQ(cs.body, "hello");
    EXPECT_TRUE(cs.closed);
    EXPECT_EQ(cs.close_code, 0u);
    EXPECT_EQ(server.active_streams(), 0u);
    EXPECT_FALSE(server.next_event().has_value());
}

TEST(H2ServerSession, PostBodyInSeveralDataFramesWithTrailers) {
    ServerSession server({}, &fake_now);
    Client client;
    const std::string body = pattern(40000);
    const auto id =
        client.request("POST", "/upload", {{"content-type", "x/y"}}, body, {{"x-checksum", "abc"}});
    client.pump(server);
    EXPECT_GE(client.data_frames_sent, 3);
    std::string got;
    bool ended = false;
    const RequestHeadEvent* seen_head = nullptr;
    std::vector<Event> all = drain(server);
    for (auto& e : all) {
        if (auto* h = std::get_if<RequestHeadEvent>(&e)) {
            seen_head = h;
            EXPECT_EQ(h->head.method, "POST");
            EXPECT_EQ(h->head.framing, BodyFraming::chunked);  // no content-length: unknown size
        } else if (auto* d = std::get_if<RequestDataEvent>(&e)) {
            EXPECT_EQ(d->stream_id, id);
            got += d->data;
            server.consume_request_data(id, d->data.size());
        } else if (auto* end = std::get_if<RequestEndEvent>(&e)) {
            ended = true;
            ASSERT_EQ(end->trailers.size(), 1u);
            EXPECT_EQ(end->trailers.find("x-checksum")->value, "abc");
        }
    }
    ASSERT_NE(seen_head, nullptr);
    EXPECT_EQ(got, body);
    EXPECT_TRUE(ended);

    // With content-length the framing says so.
    const auto id2 = client.request("POST", "/two", {{"content-length", "3"}}, "xyz");
    client.pump(server);
    auto events = drain(server);
    ASSERT_EQ(events.size(), 3u);
    const auto& h2 = std::get<RequestHeadEvent>(events[0]);
    EXPECT_EQ(h2.stream_id, id2);
    EXPECT_EQ(h2.head.framing, BodyFraming::content_length);
    EXPECT_EQ(h2.head.content_length, 3u);
    EXPECT_EQ(std::get<RequestDataEvent>(events[1]).data, "xyz");
    EXPECT_TRUE(std::get<RequestEndEvent>(events[2]).trailers.empty());
}

TEST(H2ServerSession, RequestBodyBeyondWindowWaitsForConsume) {
    Settings settings;
    settings.initial_stream_window = 16384;
    ServerSession server(settings, &fake_now);
    Client client;
    client.pump(server);  // SETTINGS exchanged and acknowledged: the 16 KiB window applies
    const std::string body = pattern(100000);
    const auto id = client.request("POST", "/big", {}, body);
    client.pump(server);

    std::string got;
    std::size_t consumed = 0;
    bool ended = false;
    for (int round = 0; round < 100 && !ended; ++round) {
        std::size_t this_round = 0;
        for (auto& e : drain(server)) {
            if (auto* d = std::get_if<RequestDataEvent>(&e)) {
                got += d->data;
                this_round += d->data.size();
            } else if (std::holds_alternative<RequestEndEvent>(e)) {
                ended = true;
            }
        }
        // Never more than one window ahead of what the caller consumed.
        ASSERT_LE(got.size(), consumed + settings.initial_stream_window);
        if (round == 0) {
            EXPECT_EQ(got.size(), 16384u);
            client.pump(server);  // nothing consumed: nothing more arrives
            EXPECT_FALSE(server.next_event().has_value());
        }
        server.consume_request_data(id, this_round);
        consumed += this_round;
        client.pump(server);
    }
    EXPECT_TRUE(ended);
    EXPECT_EQ(got, body);
}

TEST(H2ServerSession, ResponseLargerThanWindowFlowsAsClientOpensIt) {
    ServerSession server({}, &fake_now);
    Client client(/*auto_window_update=*/false, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 16384}});
    const auto id = client.request("GET", "/big");
    client.pump(server);
    drain(server);
    const std::string body = pattern(100000);
    ASSERT_TRUE(server.submit_response(id, response(200), false));
    ASSERT_TRUE(server.submit_data(id, body, true));
    client.pump(server);
    auto& cs = client.stream(id);
    EXPECT_EQ(cs.body.size(), 16384u);
    EXPECT_EQ(server.stream_send_buffered(id), 100000u - 16384u);
    EXPECT_TRUE(server.stream_send_stalled(id));
    std::size_t consumed = 0;
    for (int round = 0; round < 100 && !cs.closed; ++round) {
        client.consume(id, cs.body.size() - consumed);
        consumed = cs.body.size();
        client.pump(server);
        EXPECT_LE(cs.body.size(), consumed + 16384u);
    }
    EXPECT_TRUE(cs.closed);
    EXPECT_EQ(cs.body, body);
    EXPECT_EQ(server.stream_send_buffered(id), 0u);
}

TEST(H2ServerSession, ZeroWindowClientStallsOnlyItsStreamAndOutputStaysBounded) {
    ServerSession server({}, &fake_now);
    Client client(/*auto_window_update=*/false, {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
    const auto id = client.request("GET", "/stalled");
    client.pump(server);
    drain(server);
    ASSERT_TRUE(server.submit_response(id, response(200), false));
    ASSERT_TRUE(server.submit_data(id, pattern(65536), false));
    client.pump(server);
    auto& cs = client.stream(id);
    EXPECT_EQ(cs.status, 200);
    EXPECT_EQ(cs.body.size(), 0u);
    EXPECT_TRUE(server.stream_send_stalled(id));
    EXPECT_EQ(server.stream_send_buffered(id), 65536u);  // what the caller submitted, no more
    EXPECT_TRUE(server.pending_output().empty());
    // Other streams still work.
    const auto other = client.request("GET", "/other");
    client.pump(server);
    EXPECT_EQ(drain(server).size(), 2u);
    ASSERT_TRUE(server.submit_response(other, response(204), true));
    client.pump(server);
    EXPECT_EQ(client.stream(other).status, 204);
    // The client opens 1000 bytes: exactly those flow.
    nghttp2_submit_window_update(client.session(), NGHTTP2_FLAG_NONE, id, 1000);
    client.pump(server);
    EXPECT_EQ(cs.body.size(), 1000u);
    EXPECT_EQ(server.stream_send_buffered(id), 65536u - 1000u);
    EXPECT_TRUE(server.stream_send_stalled(id));
}

TEST(H2ServerSession, ClientResetAfterHeadReachesCallerAsEvent) {
    ServerSession server({}, &fake_now);
    Client client;
    const auto id = client.request("POST", "/x", {}, pattern(10));
    client.pump(server);
    drain(server);
    nghttp2_submit_rst_stream(client.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    client.pump(server);
    auto events = drain(server);
    ASSERT_EQ(events.size(), 1u);
    const auto& r = std::get<StreamResetEvent>(events[0]);
    EXPECT_EQ(r.stream_id, id);
    EXPECT_EQ(r.code, ErrorCode::cancel);
    EXPECT_TRUE(r.by_client);
    EXPECT_EQ(server.active_streams(), 0u);
    EXPECT_FALSE(server.submit_response(id, response(200), true));
}

TEST(H2ServerSession, EarlyCompleteResponseAsksClientToStopSending) {
    ServerSession server({}, &fake_now);
    Client client;
    client.pump(server);
    Settings defaults;
    // A body larger than the window, so the request is still open when we answer.
    const auto id = client.request("POST", "/too-big", {}, pattern(200000));
    client.pump(server);
    drain(server);
    ASSERT_TRUE(server.submit_response(id, response(413), true));
    client.pump(server);
    auto& cs = client.stream(id);
    EXPECT_EQ(cs.status, 413);
    EXPECT_TRUE(cs.closed);
    EXPECT_EQ(cs.close_code, 0u);  // RST_STREAM(NO_ERROR)
    EXPECT_EQ(server.active_streams(), 0u);
    // The connection window was re-opened for the bytes nobody read: a new upload flows.
    const auto id2 = client.request("POST", "/next", {}, pattern(defaults.initial_stream_window));
    client.pump(server);
    std::size_t got = 0;
    for (auto& e : drain(server)) {
        if (auto* d = std::get_if<RequestDataEvent>(&e)) {
            got += d->data.size();
        }
    }
    EXPECT_EQ(got, defaults.initial_stream_window);
    EXPECT_EQ(server.active_streams(), 1u);
    (void)id2;
}

TEST(H2ServerSession, ContentLengthMismatchIsStreamError) {
    RawPeer peer;
    // Content-Length 5, then 3 bytes and END_STREAM, after the caller saw the head.
    peer.send(frame(kHeaders, kEndHeaders, 1, get_block(literal("content-length", "5"))));
    auto head = peer.server.next_event();
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(std::get<RequestHeadEvent>(*head).head.content_length, 5u);
    peer.send(frame(kData, kEndStream, 1, "abc"));
    EXPECT_TRUE(peer.status.ok());  // a stream error, not a connection error
    EXPECT_EQ(peer.rst_code(1), kProtocolError);
    auto events = drain(peer.server);
    ASSERT_EQ(events.size(), 1u);  // no data, no end: only the reset
    const auto& r = std::get<StreamResetEvent>(events[0]);
    EXPECT_EQ(r.stream_id, 1);
    EXPECT_EQ(r.code, ErrorCode::protocol_error);
    EXPECT_FALSE(r.by_client);
    // More data than announced is caught the same way.
    peer.send(frame(kHeaders, kEndHeaders, 3, get_block(literal("content-length", "2"))));
    drain(peer.server);
    peer.send(frame(kData, 0, 3, "abc"));
    EXPECT_EQ(peer.rst_code(3), kProtocolError);
}

struct BadHead {
    const char* name;
    std::string block;
};
void PrintTo(const BadHead& c, std::ostream* os) {
    *os << c.name;
}

class H2MalformedRequest : public ::testing::TestWithParam<BadHead> {};

TEST_P(H2MalformedRequest, IsResetWithProtocolErrorAndNeverReachesCaller) {
    RawPeer peer;
    peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, GetParam().block));
    EXPECT_TRUE(peer.status.ok()) << peer.status.reason;
    EXPECT_EQ(peer.rst_code(1), kProtocolError);
    EXPECT_FALSE(peer.server.next_event().has_value());
    // The connection still serves a valid request.
    peer.send(frame(kHeaders, kEndHeaders | kEndStream, 3, get_block()));
    auto e = peer.server.next_event();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(std::get<RequestHeadEvent>(*e).stream_id, 3);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9113, H2MalformedRequest,
    ::testing::Values(
        BadHead{"MissingPath", std::string("\x82\x87", 2) + literal(":authority", "a")},
        BadHead{"MissingMethod", std::string("\x87\x84", 2) + literal(":authority", "a")},
        BadHead{"UnknownPseudo", get_block(literal(":foo", "x"))},
        BadHead{"PseudoAfterRegular",
                std::string("\x82\x87\x84", 3) + literal("x-a", "1") + literal(":authority", "a")},
        BadHead{"RepeatedPath", get_block(std::string("\x84", 1))},
        BadHead{"UppercaseName", get_block(literal("X-Upper", "1"))},
        BadHead{"Connection", get_block(literal("connection", "keep-alive"))},
        BadHead{"KeepAlive", get_block(literal("keep-alive", "timeout=5"))},
        BadHead{"ProxyConnection", get_block(literal("proxy-connection", "close"))},
        BadHead{"TransferEncoding", get_block(literal("transfer-encoding", "chunked"))},
        BadHead{"Upgrade", get_block(literal("upgrade", "websocket"))},
        BadHead{"TeGzip", get_block(literal("te", "gzip"))},
        BadHead{"HostDiffersFromAuthority", get_block(literal("host", "evil.example"))},
        BadHead{"RepeatedHost",
                std::string("\x82\x87\x84", 3) + literal("host", "a") + literal("host", "a")},
        BadHead{"NoAuthorityNoHost", std::string("\x82\x87\x84", 3)},
        BadHead{"RelativePath",
                std::string("\x82\x87", 2) + literal(":path", "abc") + literal(":authority", "a")}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(H2ServerSession, TeTrailersAndHostEqualToAuthorityAreAccepted) {
    RawPeer peer;
    peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1,
                    get_block(literal("te", "trailers") + literal("host", "example.com"))));
    auto e = peer.server.next_event();
    ASSERT_TRUE(e.has_value());
    const auto& head = std::get<RequestHeadEvent>(*e).head;
    EXPECT_EQ(head.headers.find("te")->value, "trailers");
    EXPECT_EQ(head.headers.count("host"), 1u);
}

TEST(H2ServerSession, GracefulGoawayFinishesInFlightAndRefusesNew) {
    ServerSession server({}, &fake_now);
    Client client;
    const auto first = client.request("GET", "/first");
    client.pump(server);
    drain(server);
    server.submit_goaway_graceful();
    // The client sends a request before it sees the final GOAWAY: it is still served.
    const auto second = client.request("GET", "/second");
    client.pump(server);
    EXPECT_EQ(client.goaways, 2);  // the notice, then the final one after the PING round trip
    EXPECT_EQ(client.goaway_code, 0u);
    EXPECT_EQ(client.goaway_last_stream, second);
    auto events = drain(server);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(std::get<RequestHeadEvent>(events[0]).stream_id, second);
    EXPECT_TRUE(server.wants_read());  // two streams in flight
    // A stream above the last id is refused (sent raw: the client library would not send it).
    server.feed(frame(kHeaders, kEndHeaders | kEndStream, 99, get_block()));
    EXPECT_FALSE(server.next_event().has_value());
    EXPECT_EQ(server.active_streams(), 2u);

    ASSERT_TRUE(server.submit_response(first, response(200), true));
    ASSERT_TRUE(server.submit_response(second, response(200), true));
    client.pump(server);
    EXPECT_EQ(client.stream(first).status, 200);
    EXPECT_EQ(client.stream(second).status, 200);
    EXPECT_EQ(server.active_streams(), 0u);
    EXPECT_FALSE(server.wants_read());
    EXPECT_FALSE(server.wants_write());
}

// --- Defences ---------------------------------------------------------------------------------

TEST(H2Defence, RapidResetOfDispatchedStreamsEndsInEnhanceYourCalm) {
    Settings settings;
    settings.reset_burst = 50;
    settings.reset_per_second = 10;
    RawPeer peer(settings);
    std::uint32_t id = 1;
    auto open_and_reset = [&] {
        peer.send(frame(kHeaders, kEndHeaders | kEndStream, id, get_block()));
        EXPECT_TRUE(peer.server.next_event().has_value());  // the caller saw the request
        drain(peer.server);
        peer.send(frame(kRst, 0, id, u32(0x8)));
        drain(peer.server);
        id += 2;
    };
    for (int i = 0; i < 50; ++i) {
        open_and_reset();
        ASSERT_TRUE(peer.status.ok()) << "reset " << i;
    }
    EXPECT_FALSE(peer.goaway_code().has_value());
    g_now += 1s;  // refills 10 tokens
    for (int i = 0; i < 10; ++i) {
        open_and_reset();
        ASSERT_TRUE(peer.status.ok()) << "after refill " << i;
    }
    open_and_reset();  // the 61st within ~1 s
    EXPECT_FALSE(peer.status.ok());
    EXPECT_EQ(peer.status.code, ErrorCode::enhance_your_calm);
    EXPECT_EQ(peer.status.reason, "rapid reset");
    EXPECT_EQ(peer.goaway_code(), kEnhanceYourCalm);
    EXPECT_FALSE(peer.server.wants_read());
}

TEST(H2Defence, StreamsResetBeforeReachingCallerCostNothing) {
    Settings settings;
    settings.reset_burst = 50;
    RawPeer peer(settings);
    std::string burst;
    for (std::uint32_t i = 0; i < 500; ++i) {  // ten times the budget, in one read
        const std::uint32_t id = 1 + 2 * i;
        burst += frame(kHeaders, kEndHeaders | kEndStream, id, get_block());
        burst += frame(kRst, 0, id, u32(0x8));
    }
    peer.send(burst);
    EXPECT_TRUE(peer.status.ok()) << peer.status.reason;
    EXPECT_FALSE(peer.goaway_code().has_value());
    EXPECT_FALSE(peer.server.next_event().has_value());  // nothing for the caller to do
    EXPECT_EQ(peer.server.active_streams(), 0u);
}

TEST(H2Defence, ContinuationFloodIsCutAtMaxContinuations) {
    // 8 CONTINUATION frames (the default cap) still make a request.
    {
        RawPeer peer;
        peer.send(frame(kHeaders, kEndStream, 1, get_block()));
        for (int i = 0; i < 7; ++i) {
            peer.send(frame(kContinuation, 0, 1, literal("x-c", "1")));
        }
        peer.send(frame(kContinuation, kEndHeaders, 1, literal("x-c", "1")));
        EXPECT_TRUE(peer.status.ok());
        auto e = peer.server.next_event();
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(std::get<RequestHeadEvent>(*e).head.headers.count("x-c"), 8u);
    }
    // An endless block is cut at the 9th CONTINUATION.
    RawPeer peer;
    peer.send(frame(kHeaders, kEndStream, 1, get_block()));
    int sent = 0;
    for (; sent < 10000 && peer.status.ok(); ++sent) {
        peer.send(frame(kContinuation, 0, 1, literal("x-c", "1")));
    }
    EXPECT_EQ(sent, 9);
    EXPECT_EQ(peer.status.code, ErrorCode::enhance_your_calm);
    EXPECT_TRUE(peer.goaway_code().has_value());
    EXPECT_FALSE(peer.server.next_event().has_value());
}

TEST(H2Defence, HeaderBlockEncodedSizeIsCapped) {
    Settings settings;
    settings.max_header_list_size = 4096;
    settings.max_continuations = 1000;  // only the byte cap applies
    RawPeer peer(settings);
    peer.send(frame(kHeaders, kEndStream, 1, get_block()));
    int sent = 0;
    for (; sent < 1000 && peer.status.ok(); ++sent) {
        peer.send(frame(kContinuation, 0, 1, literal("x-j", std::string(990, 'j'))));
    }
    // The 5th frame of 1000 bytes takes the block over 4096 bytes; it is refused before decoding.
    EXPECT_EQ(sent, 5);
    EXPECT_EQ(peer.status.reason, "header block too large");
    EXPECT_EQ(peer.goaway_code(), kEnhanceYourCalm);
}

TEST(H2Defence, HpackBombGets431AndStoresNothing) {
    ServerSession server({}, &fake_now);
    Client client(true, {}, 1 << 20);  // the library refuses to send a bomb by default
    // A 2000-byte value the client's encoder indexes once and then references with one byte:
    // 200 copies decode to ~400 KB from ~2.4 KB on the wire.
    std::vector<std::pair<std::string, std::string>> bomb;
    for (int i = 0; i < 200; ++i) {
        bomb.emplace_back("x-bomb", std::string(2000, 'b'));
    }
    const auto id = client.request("GET", "/bomb", bomb);
    client.pump(server);
    EXPECT_TRUE(client.last_status.ok()) << client.last_status.reason;
    EXPECT_FALSE(server.next_event().has_value());
    EXPECT_EQ(client.stream(id).status, 431);
    EXPECT_TRUE(client.stream(id).closed);
    // Just under the limit (64 KiB decoded incl. 32 bytes per field) still passes.
    std::vector<std::pair<std::string, std::string>> big;
    for (int i = 0; i < 30; ++i) {
        big.emplace_back("x-big", std::string(2000, 'b'));
    }
    const auto ok = client.request("GET", "/big", big);
    client.pump(server);
    auto e = server.next_event();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(std::get<RequestHeadEvent>(*e).stream_id, ok);
    EXPECT_EQ(std::get<RequestHeadEvent>(*e).head.headers.count("x-big"), 30u);
}

TEST(H2Defence, HpackBombFarBeyondTheLimitEndsTheConnection) {
    ServerSession server({}, &fake_now);
    Client client(true, {}, 1 << 24);
    // ~1.2 MB decoded (over 16 x 64 KiB) from a few KB: decoding stops, GOAWAY ENHANCE_YOUR_CALM.
    std::vector<std::pair<std::string, std::string>> bomb;
    for (int i = 0; i < 600; ++i) {
        bomb.emplace_back("x-bomb", std::string(2000, 'b'));
    }
    client.request("GET", "/bomb", bomb);
    client.pump(server);
    EXPECT_FALSE(server.status().ok());
    EXPECT_EQ(server.status().reason, "HPACK bomb");
    EXPECT_EQ(client.goaway_code, kEnhanceYourCalm);
    EXPECT_FALSE(server.next_event().has_value());
}

struct FloodCase {
    const char* name;
    std::function<std::string(std::uint32_t i)> make;  // the i-th frame of the flood
    std::function<void(RawPeer&)> setup;
    int allowed;       // frames that pass from a full bucket
    int after_refill;  // frames that pass after 1 s (10 tokens)
};
void PrintTo(const FloodCase& c, std::ostream* os) {
    *os << c.name;
}

class H2Flood : public ::testing::TestWithParam<FloodCase> {};

// flood_burst 100, 10/s: the client's SETTINGS takes one token, so 99 one-token frames with no
// work between them pass and the 100th ends the connection (a valid request earns 2 tokens,
// capped at the burst; a malformed one costs one more).
TEST_P(H2Flood, UnproductiveFramesEndInEnhanceYourCalm) {
    Settings settings;
    settings.flood_burst = 100;
    settings.flood_per_second = 10;
    RawPeer peer(settings);
    if (GetParam().setup) {
        GetParam().setup(peer);
    }
    std::uint32_t i = 0;
    for (int n = 0; n < GetParam().allowed; ++n, ++i) {
        peer.send(GetParam().make(i));
        ASSERT_TRUE(peer.status.ok()) << "frame " << n << ": " << peer.status.reason;
    }
    g_now += 1s;
    for (int n = 0; n < GetParam().after_refill; ++n, ++i) {
        peer.send(GetParam().make(i));
        ASSERT_TRUE(peer.status.ok()) << "after refill " << n << ": " << peer.status.reason;
    }
    peer.send(GetParam().make(i));
    EXPECT_FALSE(peer.status.ok());
    EXPECT_EQ(peer.status.reason, "frame flood");
    EXPECT_EQ(peer.goaway_code(), kEnhanceYourCalm);
}

void open_stream_1(RawPeer& peer) {
    peer.send(frame(kHeaders, kEndHeaders, 1, get_block()));
}
void open_and_close_stream_1(RawPeer& peer) {
    peer.send(frame(kHeaders, kEndHeaders | kEndStream, 1, get_block()));
    drain(peer.server);
    peer.server.reset_stream(1, ErrorCode::cancel);
    (void)peer.server.pending_output();
}

INSTANTIATE_TEST_SUITE_P(
    Frames, H2Flood,
    ::testing::Values(
        FloodCase{"Ping", [](std::uint32_t) { return frame(kPing, 0, 0, std::string(8, 'p')); },
                  nullptr, 99, 10},
        FloodCase{"Settings", [](std::uint32_t) { return frame(kSettings, 0, 0, ""); }, nullptr, 99,
                  10},
        FloodCase{"Priority", [](std::uint32_t) { return frame(kPriority, 0, 3, u32(0) + "\x10"); },
                  nullptr, 99, 10},
        FloodCase{"WindowUpdate", [](std::uint32_t) { return frame(kWindowUpdate, 0, 0, u32(1)); },
                  nullptr, 99, 10},
        FloodCase{"EmptyData", [](std::uint32_t) { return frame(kData, 0, 1, ""); }, &open_stream_1,
                  100, 10},
        FloodCase{"EmptyHeaders",  // a new stream each, malformed: two tokens each
                  [](std::uint32_t i) { return frame(kHeaders, kEndHeaders, 1 + 2 * i, ""); },
                  nullptr, 49, 5},
        FloodCase{"ResetOfClosedStream", [](std::uint32_t) { return frame(kRst, 0, 1, u32(8)); },
                  &open_and_close_stream_1, 100, 10}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(H2Defence, UsefulWorkEarnsRoomForControlFrames) {
    Settings settings;
    settings.flood_burst = 100;
    RawPeer peer(settings);
    // 400 PINGs interleaved with 200 small requests: each request earns 2 tokens.
    std::uint32_t id = 1;
    for (int i = 0; i < 200; ++i) {
        peer.send(frame(kHeaders, kEndHeaders | kEndStream, id, get_block()));
        drain(peer.server);
        peer.server.reset_stream(static_cast<std::int32_t>(id), ErrorCode::no_error);
        id += 2;
        peer.send(frame(kPing, 0, 0, std::string(8, 'p')));
        peer.send(frame(kPing, 0, 0, std::string(8, 'p')));
        ASSERT_TRUE(peer.status.ok()) << i;
    }
}

TEST(H2Defence, UnreadAcksAreBoundedByMaxOutboundAck) {
    Settings settings;
    settings.flood_burst = 0;  // only nghttp2's outbound-ack limit
    settings.output_high_water = 1024;
    ServerSession server(settings, &fake_now);
    server.feed(std::string(kClientPreface) + frame(kSettings, 0, 0, ""));
    Status status;
    int sent = 0;
    for (; sent < 100000 && status.ok(); ++sent) {  // the client never reads
        status = server.feed(frame(kPing, 0, 0, std::string(8, 'p')));
        (void)server.pending_output();
    }
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.code, ErrorCode::enhance_your_calm);
    EXPECT_LT(sent, 1200);  // 1000 queued acks + what fits in 1 KiB of output
    EXPECT_LE(server.pending_output().size(), 1024u + 64u);
}

}  // namespace
}  // namespace usher::http::h2
