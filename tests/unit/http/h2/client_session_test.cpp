// ClientSession against our own ServerSession (bytes pumped in memory both ways), and against
// raw frames built by hand for the malformed responses a well-behaved server never sends.
#include "http/h2/client_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/h2/server_session.hpp"

namespace usher::http::h2 {
namespace {

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + i % 26);
    }
    return s;
}

// A request head as the HTTP/1 parser would produce it (views into string literals).
RequestHead request(std::string_view method, std::string_view path,
                    std::vector<std::pair<std::string_view, std::string_view>> fields = {}) {
    RequestHead h;
    h.method = method;
    h.target = path;
    h.path = path;
    h.authority = "backend.test";
    h.headers.add("Host", "backend.test");
    for (auto [n, v] : fields) {
        h.headers.add(n, v);
    }
    return h;
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

std::vector<ClientEvent> drain(ClientSession& client) {
    std::vector<ClientEvent> out;
    while (auto e = client.next_event()) {
        out.push_back(std::move(*e));
    }
    return out;
}

std::vector<Event> drain(ServerSession& server) {
    std::vector<Event> out;
    while (auto e = server.next_event()) {
        out.push_back(std::move(*e));
    }
    return out;
}

// A ClientSession wired to a ServerSession in memory.
struct Link {
    explicit Link(const ClientSettings& cs = {}, const Settings& ss = {}) : client(cs), server(ss) {
        pump();
    }

    // Moves bytes both ways until neither side has anything to say.
    void pump() {
        for (int round = 0; round < 100000; ++round) {
            bool moved = false;
            if (auto out = client.pending_output(); !out.empty()) {
                server_status = server.feed(out);
                client.consume_output(out.size());
                moved = true;
            }
            if (auto out = server.pending_output(); !out.empty()) {
                client_status = client.feed(out);
                server.consume_output(out.size());
                moved = true;
            }
            if (!moved) {
                return;
            }
        }
        ADD_FAILURE() << "pump did not settle";
    }

    // The stream id the server sees for the only request head among `events`.
    static std::int32_t head_id(const std::vector<Event>& events) {
        for (const auto& e : events) {
            if (const auto* h = std::get_if<RequestHeadEvent>(&e)) {
                return h->stream_id;
            }
        }
        return -1;
    }

    ClientSession client;
    ServerSession server;
    Status client_status;
    Status server_status;
};

// ---------------------------------------------------------------------------------------------
// Raw frames and HPACK literals, for what ServerSession would never send.

constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kRst = 0x3, kSettings = 0x4, kPing = 0x6,
                       kGoaway = 0x7;
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
    const auto len = static_cast<std::uint32_t>(payload.size());
    std::string f = u32(len).substr(1);
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f += u32(stream);
    f.append(payload);
    return f;
}

// HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` carries the pattern bits.
std::string hpack_int(std::uint8_t first, int prefix_bits, std::size_t value) {
    std::string out;
    const std::size_t max = (std::size_t{1} << prefix_bits) - 1;
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

const std::string kStatus200 = "\x88";  // static table index 8

// gRPC length-prefixed messages (uncompressed flag, 4-byte length, payload).
const std::string kGrpcRequest = std::string(4, '\0') + "\x03" + "abc";
const std::string kGrpcResponse = std::string(4, '\0') + "\x02" + "ok";

struct RawFrame {
    std::uint8_t type;
    std::uint8_t flags;
    std::uint32_t stream;
    std::string payload;
};

// A hand-driven backend: reads what the client writes, answers with raw frames.
class RawBackend {
  public:
    explicit RawBackend(const ClientSettings& settings = {}) : client(settings) {
        flush();
        EXPECT_EQ(written.substr(0, kClientPreface.size()), kClientPreface);
        send(frame(kSettings, 0, 0, "") + frame(kSettings, kAck, 0, ""));
    }

    Status send(std::string_view bytes) {
        status = client.feed(bytes);
        flush();
        return status;
    }
    void flush() {
        auto out = client.pending_output();
        written.append(out);
        client.consume_output(out.size());
    }

    std::vector<RawFrame> frames() const {
        std::vector<RawFrame> out;
        std::string_view rest = std::string_view(written).substr(kClientPreface.size());
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
    // The code of the RST_STREAM the client sent for `stream`, if any.
    std::optional<std::uint32_t> rst_code(std::uint32_t stream) const {
        for (const auto& f : frames()) {
            if (f.type == kRst && f.stream == stream) {
                const auto* b = reinterpret_cast<const unsigned char*>(f.payload.data());
                return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 |
                       std::uint32_t{b[2]} << 8 | b[3];
            }
        }
        return std::nullopt;
    }

    std::int32_t get(std::string_view path = "/") {
        const auto id = client.submit_request(request("GET", path), "http", true);
        flush();
        return id;
    }

    ClientSession client;
    Status status;
    std::string written;
};

template <typename T>
const T& as(const ClientEvent& e) {
    const T* p = std::get_if<T>(&e);
    if (p == nullptr) {
        ADD_FAILURE() << "unexpected event kind " << e.index();
        static const T empty{};
        return empty;
    }
    return *p;
}

// ---------------------------------------------------------------------------------------------

TEST(H2ClientSession, GetRoundTripsAsProtocolNeutralHeads) {
    Link link;
    auto head = request("GET", "/a?b=1",
                        {{"X-Custom", "1"},
                         {"Connection", "keep-alive, X-Hop"},
                         {"X-Hop", "secret"},
                         {"Keep-Alive", "timeout=5"},
                         {"Proxy-Connection", "keep-alive"},
                         {"Upgrade", "websocket"},
                         {"TE", "gzip"},
                         {"Accept", "*/*"}});
    const auto id = link.client.submit_request(head, "https", true);
    ASSERT_EQ(id, 1);
    EXPECT_EQ(link.client.active_streams(), 1u);
    link.pump();
    ASSERT_TRUE(link.server_status.ok());

    auto events = drain(link.server);
    ASSERT_EQ(events.size(), 2u);
    const auto& req = std::get<RequestHeadEvent>(events[0]).head;
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.path, "/a?b=1");
    EXPECT_EQ(req.authority, "backend.test");
    EXPECT_EQ(req.headers.count("host"), 1u);  // added back by the server from :authority
    ASSERT_NE(req.headers.find("x-custom"), nullptr);
    EXPECT_EQ(req.headers.find("x-custom")->name, "x-custom");  // lowercased on the wire
    EXPECT_EQ(req.headers.find("accept")->value, "*/*");
    for (auto name : {"connection", "x-hop", "keep-alive", "proxy-connection", "upgrade", "te"}) {
        EXPECT_FALSE(req.headers.contains(name)) << name;
    }
    EXPECT_TRUE(std::holds_alternative<RequestEndEvent>(events[1]));

    ASSERT_TRUE(link.server.submit_response(
        id, response(200, {{"content-length", "5"}, {"x-up", "y"}}), false));
    ASSERT_TRUE(link.server.submit_data(id, "hello", true));
    link.pump();
    ASSERT_TRUE(link.client_status.ok());
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 3u);
    const auto& rh = as<ResponseHeadEvent>(got[0]);
    EXPECT_EQ(rh.stream_id, id);
    EXPECT_EQ(rh.head.status, 200);
    EXPECT_EQ(rh.head.reason, "OK");
    EXPECT_EQ(rh.head.version, Version::http2);
    EXPECT_EQ(rh.head.framing, BodyFraming::content_length);
    EXPECT_EQ(rh.head.content_length, 5u);
    EXPECT_EQ(rh.head.headers.find("x-up")->value, "y");
    EXPECT_EQ(as<ResponseDataEvent>(got[1]).data, "hello");
    EXPECT_EQ(as<ResponseEndEvent>(got[2]).stream_id, id);
    EXPECT_TRUE(as<ResponseEndEvent>(got[2]).trailers.empty());
    link.client.consume_response_data(id, 5);
    EXPECT_EQ(link.client.active_streams(), 0u);
    EXPECT_TRUE(link.client.wants_read());  // an idle pooled connection keeps reading
}

TEST(H2ClientSession, TeTrailersIsKeptAndAuthorityFallsBackToHost) {
    Link link;
    RequestHead head;
    head.method = "GET";
    head.target = "/x";
    head.path = "/x";
    head.headers.add("host", "from-host.test");
    head.headers.add("te", "Trailers, deflate");
    link.client.submit_request(head, "http", true);
    link.pump();
    auto events = drain(link.server);
    ASSERT_FALSE(events.empty());
    const auto& req = std::get<RequestHeadEvent>(events[0]).head;
    EXPECT_EQ(req.authority, "from-host.test");
    ASSERT_NE(req.headers.find("te"), nullptr);
    EXPECT_EQ(req.headers.find("te")->value, "trailers");
}

TEST(H2ClientSession, HeadsWithoutBodyHaveFramingNone) {
    Link link;
    const auto get = link.client.submit_request(request("GET", "/"), "http", true);
    const auto head = link.client.submit_request(request("HEAD", "/"), "http", true);
    link.pump();
    drain(link.server);
    link.server.submit_response(get, response(204), true);
    link.server.submit_response(head, response(200, {{"content-length", "1000"}}), true);
    link.pump();
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.status, 204);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.framing, BodyFraming::none);
    EXPECT_EQ(as<ResponseEndEvent>(got[1]).stream_id, get);
    EXPECT_EQ(as<ResponseHeadEvent>(got[2]).stream_id, head);
    EXPECT_EQ(as<ResponseHeadEvent>(got[2]).head.framing, BodyFraming::none);
    EXPECT_EQ(as<ResponseHeadEvent>(got[2]).head.content_length, 1000u);
    EXPECT_EQ(as<ResponseEndEvent>(got[3]).stream_id, head);
}

// A request body larger than the backend's windows waits for the backend to consume it, and a
// response larger than ours waits for consume_response_data(): back-pressure both ways.
TEST(H2ClientSession, BodiesBeyondTheWindowsFlowOnlyAsTheyAreConsumed) {
    ClientSettings cs;
    cs.initial_stream_window = 32 * 1024;
    cs.connection_window = 64 * 1024;
    Settings ss;
    ss.initial_stream_window = 64 * 1024;
    Link link(cs, ss);
    const std::string upload = pattern(300 * 1024);
    const auto id = link.client.submit_request(
        request("POST", "/up", {{"content-length", "307200"}}), "http", false);
    ASSERT_GT(id, 0);
    ASSERT_TRUE(link.client.submit_data(id, upload, true));
    EXPECT_FALSE(link.client.submit_data(id, "late", false));  // the caller ended its side
    link.pump();
    // The backend has not consumed anything: at most its stream window crossed the wire.
    EXPECT_EQ(link.client.stream_send_buffered(id), upload.size() - 64 * 1024);

    std::string received;
    bool request_ended = false;
    for (int round = 0; round < 100 && !request_ended; ++round) {
        for (auto& e : drain(link.server)) {
            if (auto* d = std::get_if<RequestDataEvent>(&e)) {
                received += d->data;
                link.server.consume_request_data(id, d->data.size());
            } else if (std::holds_alternative<RequestEndEvent>(e)) {
                request_ended = true;
            }
        }
        link.pump();
    }
    ASSERT_TRUE(request_ended);
    EXPECT_EQ(received, upload);
    EXPECT_EQ(link.client.stream_send_buffered(id), 0u);

    const std::string download = pattern(200 * 1024);
    ASSERT_TRUE(link.server.submit_response(id, response(200), false));
    ASSERT_TRUE(link.server.submit_data(id, download, true));
    link.pump();
    std::string body;
    bool ended = false;
    std::size_t unconsumed = 0;
    auto take = [&] {
        for (auto& e : drain(link.client)) {
            if (auto* d = std::get_if<ResponseDataEvent>(&e)) {
                body += d->data;
                unconsumed += d->data.size();
            } else if (auto* h = std::get_if<ResponseHeadEvent>(&e)) {
                EXPECT_EQ(h->head.framing, BodyFraming::chunked);  // no content-length
            } else {
                ended = std::holds_alternative<ResponseEndEvent>(e);
            }
        }
    };
    take();
    // Nothing consumed yet: exactly our stream window arrived, the rest waits at the server.
    EXPECT_EQ(body.size(), 32u * 1024);
    EXPECT_EQ(link.server.stream_send_buffered(id) + body.size(), download.size());
    link.pump();
    take();
    EXPECT_EQ(body.size(), 32u * 1024);  // still: nothing re-opened the window
    for (int round = 0; round < 100 && !ended; ++round) {
        link.client.consume_response_data(id, unconsumed);
        unconsumed = 0;
        link.pump();
        take();
    }
    ASSERT_TRUE(ended);
    EXPECT_EQ(body, download);
}

TEST(H2ClientSession, GrpcStyleTrailersFlowBothWays) {
    Link link;
    const auto id = link.client.submit_request(
        request("POST", "/pkg.Service/Method",
                {{"content-type", "application/grpc"}, {"te", "trailers"}}),
        "http", false);
    ASSERT_TRUE(link.client.submit_data(id, kGrpcRequest, false));
    HeaderMap req_trailers;
    req_trailers.add("X-Request-Sum", "42");
    req_trailers.add("Connection", "close");  // never sent
    ASSERT_TRUE(link.client.submit_trailers(id, req_trailers));
    EXPECT_FALSE(link.client.submit_trailers(id, req_trailers));  // already ended
    link.pump();
    auto events = drain(link.server);
    ASSERT_EQ(events.size(), 3u);
    const auto& req = std::get<RequestHeadEvent>(events[0]).head;
    EXPECT_EQ(req.headers.find("te")->value, "trailers");
    EXPECT_EQ(req.framing, BodyFraming::chunked);
    EXPECT_EQ(std::get<RequestDataEvent>(events[1]).data, kGrpcRequest);
    const auto& got_trailers = std::get<RequestEndEvent>(events[2]).trailers;
    ASSERT_EQ(got_trailers.size(), 1u);
    EXPECT_EQ(got_trailers.find("x-request-sum")->value, "42");

    ASSERT_TRUE(link.server.submit_response(
        id, response(200, {{"content-type", "application/grpc"}}), false));
    ASSERT_TRUE(link.server.submit_data(id, kGrpcResponse, false));
    HeaderMap resp_trailers;
    resp_trailers.add("grpc-status", "0");
    resp_trailers.add("grpc-message", "fine");
    ASSERT_TRUE(link.server.submit_trailers(id, resp_trailers));
    link.pump();
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.framing, BodyFraming::chunked);
    EXPECT_EQ(as<ResponseDataEvent>(got[1]).data, kGrpcResponse);
    const auto& trailers = as<ResponseEndEvent>(got[2]).trailers;
    ASSERT_EQ(trailers.size(), 2u);
    EXPECT_EQ(trailers.find("grpc-status")->value, "0");
    EXPECT_EQ(trailers.find("grpc-message")->value, "fine");
    EXPECT_EQ(link.client.active_streams(), 0u);
}

TEST(H2ClientSession, InterimHeadsPassThroughBeforeTheFinalOne) {
    Link link;
    const auto id = link.client.submit_request(
        request("POST", "/", {{"expect", "100-continue"}, {"content-length", "2"}}), "http", false);
    link.pump();
    drain(link.server);
    ASSERT_TRUE(link.server.submit_response(id, response(100), false));
    link.pump();
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.status, 100);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.framing, BodyFraming::none);

    ASSERT_TRUE(link.client.submit_data(id, "ok", true));
    link.pump();
    drain(link.server);
    ASSERT_TRUE(link.server.submit_response(id, response(103, {{"link", "</a.css>"}}), false));
    ASSERT_TRUE(link.server.submit_response(id, response(201), true));
    link.pump();
    got = drain(link.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.status, 103);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.headers.find("link")->value, "</a.css>");
    EXPECT_EQ(as<ResponseHeadEvent>(got[1]).head.status, 201);
    EXPECT_EQ(as<ResponseEndEvent>(got[2]).stream_id, id);
}

TEST(H2ClientSession, BackendResetEndsTheStreamWithItsCode) {
    Link link;
    const auto a = link.client.submit_request(request("GET", "/a"), "http", true);
    const auto b = link.client.submit_request(request("GET", "/b"), "http", true);
    link.pump();
    drain(link.server);
    ASSERT_TRUE(link.server.submit_response(a, response(200), false));
    ASSERT_TRUE(link.server.submit_data(a, "part", false));
    link.pump();
    link.server.reset_stream(a, ErrorCode::internal_error);
    link.server.reset_stream(b, ErrorCode::refused_stream);
    link.pump();
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).stream_id, a);
    EXPECT_EQ(as<ResponseDataEvent>(got[1]).data, "part");
    const auto& closed_a = as<StreamClosedEvent>(got[2]);
    EXPECT_EQ(closed_a.stream_id, a);
    EXPECT_EQ(closed_a.code, ErrorCode::internal_error);
    EXPECT_EQ(closed_a.reason, "reset by backend");
    const auto& closed_b = as<StreamClosedEvent>(got[3]);
    EXPECT_EQ(closed_b.stream_id, b);
    EXPECT_EQ(closed_b.code, ErrorCode::refused_stream);
    EXPECT_EQ(link.client.active_streams(), 0u);
    EXPECT_TRUE(link.client_status.ok());
}

TEST(H2ClientSession, EarlyCompleteResponseEndsTheStreamWithoutAClose) {
    Link link;
    const auto id = link.client.submit_request(request("POST", "/"), "http", false);
    ASSERT_TRUE(link.client.submit_data(id, "first", false));
    link.pump();
    drain(link.server);
    ASSERT_TRUE(link.server.submit_response(id, response(413), true));
    link.pump();  // the server also resets with NO_ERROR: "stop sending"
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.status, 413);
    EXPECT_EQ(as<ResponseEndEvent>(got[1]).stream_id, id);
    EXPECT_FALSE(link.client.submit_data(id, "more", true));
    EXPECT_EQ(link.client.active_streams(), 0u);
}

// The caller's reset drops the stream's undelivered events and re-opens the connection window
// for their bytes: otherwise a later stream would starve.
TEST(H2ClientSession, CallerResetDropsEventsAndReturnsTheirWindow) {
    ClientSettings cs;
    cs.initial_stream_window = 60 * 1024;
    cs.connection_window = 65535;
    Link link(cs);
    const auto a = link.client.submit_request(request("GET", "/a"), "http", true);
    link.pump();
    drain(link.server);
    link.server.submit_response(a, response(200), false);
    link.server.submit_data(a, pattern(60 * 1024), false);
    link.pump();
    link.client.reset_stream(a, ErrorCode::cancel);
    EXPECT_FALSE(link.client.next_event().has_value());
    link.pump();
    auto server_events = drain(link.server);
    ASSERT_EQ(server_events.size(), 1u);
    EXPECT_EQ(std::get<StreamResetEvent>(server_events[0]).code, ErrorCode::cancel);
    EXPECT_TRUE(std::get<StreamResetEvent>(server_events[0]).by_client);

    const auto b = link.client.submit_request(request("GET", "/b"), "http", true);
    link.pump();
    drain(link.server);
    link.server.submit_response(b, response(200), false);
    link.server.submit_data(b, pattern(60 * 1024), true);
    link.pump();
    std::size_t bytes = 0;
    bool ended = false;
    for (auto& e : drain(link.client)) {
        if (auto* d = std::get_if<ResponseDataEvent>(&e)) {
            EXPECT_EQ(d->stream_id, b);
            bytes += d->data.size();
        }
        ended = ended || std::holds_alternative<ResponseEndEvent>(e);
    }
    EXPECT_EQ(bytes, 60u * 1024);
    EXPECT_TRUE(ended);
}

TEST(H2ClientSession, CallerResetBeforeTheHeadIsWrittenSendsNothing) {
    Link link;
    const auto id = link.client.submit_request(request("POST", "/"), "http", false);
    ASSERT_TRUE(link.client.submit_data(id, "body", false));
    link.client.reset_stream(id, ErrorCode::cancel);
    EXPECT_EQ(link.client.stream_send_buffered(id), 0u);
    link.pump();
    EXPECT_TRUE(link.server_status.ok());
    EXPECT_TRUE(drain(link.server).empty());
    EXPECT_TRUE(drain(link.client).empty());
    EXPECT_EQ(link.client.active_streams(), 0u);
    EXPECT_FALSE(link.client.submit_data(id, "more", true));
    // The connection is still good.
    const auto next = link.client.submit_request(request("GET", "/"), "http", true);
    link.pump();
    EXPECT_EQ(Link::head_id(drain(link.server)), next);
}

TEST(H2ClientSession, RequestHeadTooLargeToSendClosesOnlyThatStream) {
    Link link;
    const std::string big(70 * 1024, 'x');
    const auto id = link.client.submit_request(request("GET", "/", {{"x-big", big}}), "http", true);
    ASSERT_GT(id, 0);
    link.pump();
    EXPECT_TRUE(link.server_status.ok());
    EXPECT_TRUE(drain(link.server).empty());
    auto got = drain(link.client);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).stream_id, id);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).code, ErrorCode::internal_error);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).reason, "request head too large");
    EXPECT_EQ(link.client.active_streams(), 0u);
    const auto next = link.client.submit_request(request("GET", "/"), "http", true);
    link.pump();
    EXPECT_EQ(Link::head_id(drain(link.server)), next);
}

TEST(H2ClientSession, BackendGracefulGoawayLetsInFlightStreamsFinish) {
    Link link;
    const auto id = link.client.submit_request(request("GET", "/"), "http", true);
    link.pump();
    drain(link.server);
    link.server.submit_goaway_graceful();
    link.pump();
    EXPECT_FALSE(link.client.can_open_stream());
    EXPECT_EQ(link.client.submit_request(request("GET", "/late"), "http", true), -1);
    auto got = drain(link.client);
    ASSERT_GE(got.size(), 1u);
    EXPECT_EQ(as<GoawayEvent>(got[0]).code, ErrorCode::no_error);
    EXPECT_TRUE(link.client.wants_read());  // one stream in flight
    link.server.submit_response(id, response(200), true);
    link.pump();
    got = drain(link.client);
    ASSERT_FALSE(got.empty());
    EXPECT_TRUE(std::holds_alternative<ResponseEndEvent>(got.back()));
    EXPECT_FALSE(link.client.wants_read());
}

TEST(H2ClientSession, GoawayRefusesStreamsAboveLastStreamId) {
    RawBackend backend;
    const auto a = backend.get("/a");
    const auto b = backend.get("/b");
    const auto c = backend.get("/c");
    ASSERT_EQ(a, 1);
    ASSERT_EQ(c, 5);
    backend.send(frame(kGoaway, 0, 0, u32(1) + u32(0)));
    ASSERT_TRUE(backend.status.ok());
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<GoawayEvent>(got[0]).last_stream_id, 1);
    for (std::size_t i = 1; i < 3; ++i) {
        const auto& closed = as<StreamClosedEvent>(got[i]);
        EXPECT_TRUE(closed.stream_id == b || closed.stream_id == c);
        EXPECT_EQ(closed.code, ErrorCode::refused_stream);
    }
    EXPECT_FALSE(backend.client.can_open_stream());
    EXPECT_EQ(backend.client.submit_request(request("GET", "/"), "http", true), -1);
    EXPECT_TRUE(backend.client.wants_read());
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 1, kStatus200));
    got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).stream_id, a);
    EXPECT_EQ(as<ResponseEndEvent>(got[1]).stream_id, a);
    EXPECT_FALSE(backend.client.wants_read());
}

// A request still queued inside the session when the GOAWAY arrives never reached the wire.
TEST(H2ClientSession, RequestNotYetWrittenIsRefusedByGoaway) {
    RawBackend backend;
    const auto id = backend.client.submit_request(request("GET", "/"), "http", true);
    ASSERT_EQ(id, 1);
    backend.status = backend.client.feed(frame(kGoaway, 0, 0, u32(0) + u32(0)));
    backend.flush();
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<GoawayEvent>(got[0]));
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).stream_id, id);
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).code, ErrorCode::refused_stream);
    EXPECT_EQ(backend.client.active_streams(), 0u);
    for (const auto& f : backend.frames()) {
        EXPECT_NE(f.type, kHeaders);
    }
}

TEST(H2ClientSession, BackendConcurrencyLimitIsHonoured) {
    Settings ss;
    ss.max_concurrent_streams = 2;
    Link link({}, ss);
    ASSERT_TRUE(link.client.can_open_stream());
    const auto a = link.client.submit_request(request("GET", "/a"), "http", true);
    ASSERT_TRUE(link.client.can_open_stream());
    const auto b = link.client.submit_request(request("GET", "/b"), "http", true);
    EXPECT_GT(b, a);
    EXPECT_FALSE(link.client.can_open_stream());
    EXPECT_EQ(link.client.submit_request(request("GET", "/c"), "http", true), -1);
    EXPECT_EQ(link.client.active_streams(), 2u);
    link.pump();
    drain(link.server);
    link.server.submit_response(a, response(200), true);
    link.pump();
    drain(link.client);
    EXPECT_TRUE(link.client.can_open_stream());
    EXPECT_GT(link.client.submit_request(request("GET", "/c"), "http", true), b);
}

TEST(H2ClientSession, PingAcksAreCounted) {
    Link link;
    EXPECT_EQ(link.client.ping_acks(), 0u);
    link.client.submit_ping();
    EXPECT_TRUE(link.client.wants_write());
    link.pump();
    EXPECT_EQ(link.client.ping_acks(), 1u);
    link.client.submit_ping();
    link.client.submit_ping();
    link.pump();
    EXPECT_EQ(link.client.ping_acks(), 3u);
}

TEST(H2ClientSession, OutputIsPulledOnlyUpToHighWater) {
    ClientSettings cs;
    cs.output_high_water = 16 * 1024;
    Settings ss;
    ss.initial_stream_window = 1024 * 1024;
    ss.connection_window = 2 * 1024 * 1024;
    Link link(cs, ss);
    const auto id = link.client.submit_request(request("POST", "/"), "http", false);
    ASSERT_TRUE(link.client.submit_data(id, pattern(512 * 1024), true));
    const auto out = link.client.pending_output();
    EXPECT_GE(out.size(), 16u * 1024);
    EXPECT_LE(out.size(), 16u * 1024 + 16 * 1024 + 9);  // at most one frame past the mark
    EXPECT_GT(link.client.stream_send_buffered(id), 400u * 1024);  // still ours, not encoded
}

// --- Malformed responses (raw frames) ----------------------------------------------------------

struct Malformed {
    const char* name;
    std::string block;  // the response header block
};

class H2ClientMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(H2ClientMalformed, ClosesOnlyThatStreamWithProtocolError) {
    RawBackend backend;
    const auto id = backend.get();
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 1, GetParam().block));
    ASSERT_TRUE(backend.status.ok()) << backend.status.reason;
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 1u);
    const auto& closed = as<StreamClosedEvent>(got[0]);
    EXPECT_EQ(closed.stream_id, id);
    EXPECT_EQ(closed.code, ErrorCode::protocol_error);
    EXPECT_FALSE(closed.reason.empty());
    EXPECT_EQ(backend.rst_code(1), 0x1u);
    // The connection lives on.
    const auto next = backend.get();
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 3, kStatus200));
    got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).stream_id, next);
}

INSTANTIATE_TEST_SUITE_P(
    H2ClientRfc9113, H2ClientMalformed,
    ::testing::Values(
        Malformed{"MissingStatus", literal("content-type", "text/plain")},
        Malformed{"TwoDigitStatus", literal(":status", "20")},
        Malformed{"FourDigitStatus", literal(":status", "2000")},
        Malformed{"LetterInStatus", literal(":status", "2x0")},
        Malformed{"Status101", literal(":status", "101")},
        Malformed{"RepeatedStatus", kStatus200 + kStatus200},
        Malformed{"RequestPseudoHeader", kStatus200 + literal(":path", "/")},
        Malformed{"UnknownPseudoHeader", kStatus200 + literal(":foo", "1")},
        Malformed{"PseudoAfterRegular", literal("x", "1") + kStatus200},
        Malformed{"UppercaseName", kStatus200 + literal("X-Upper", "1")},
        Malformed{"ConnectionField", kStatus200 + literal("connection", "close")},
        Malformed{"TransferEncoding", kStatus200 + literal("transfer-encoding", "chunked")},
        Malformed{"KeepAlive", kStatus200 + literal("keep-alive", "1")},
        Malformed{"Upgrade", kStatus200 + literal("upgrade", "h2c")},
        Malformed{"ContentLengthNotDigits", kStatus200 + literal("content-length", "1e3")},
        Malformed{"ContentLengthMismatchOnHeadersEnd", kStatus200 + literal("content-length", "5")},
        Malformed{"InterimHeadEndsTheStream", literal(":status", "100")},
        Malformed{"NewlineInValue", kStatus200 + literal("x-a", "a\r\nb")},
        Malformed{"SpaceInName", kStatus200 + literal("x a", "1")}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(H2ClientSession, ContentLengthBeyondTheDataIsAStreamError) {
    RawBackend backend;
    const auto id = backend.get();
    backend.send(frame(kHeaders, kEndHeaders, 1, kStatus200 + literal("content-length", "10")));
    backend.send(frame(kData, kEndStream, 1, "short"));
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.content_length, 10u);
    EXPECT_EQ(as<ResponseDataEvent>(got[1]).data, "short");
    EXPECT_EQ(as<StreamClosedEvent>(got[2]).stream_id, id);
    EXPECT_EQ(as<StreamClosedEvent>(got[2]).code, ErrorCode::protocol_error);
}

TEST(H2ClientSession, DataPastContentLengthIsAStreamError) {
    RawBackend backend;
    backend.get();
    backend.send(frame(kHeaders, kEndHeaders, 1, kStatus200 + literal("content-length", "2")));
    backend.send(frame(kData, kEndStream, 1, "toolong"));
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<ResponseHeadEvent>(got[0]));
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).code, ErrorCode::protocol_error);
}

TEST(H2ClientSession, DataOnA204IsAStreamError) {
    RawBackend backend;
    backend.get();
    backend.send(frame(kHeaders, kEndHeaders, 1, "\x89"));  // :status 204 (static index 9)
    backend.send(frame(kData, kEndStream, 1, "x"));
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.status, 204);
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).code, ErrorCode::protocol_error);
    EXPECT_EQ(backend.rst_code(1), 0x1u);
}

TEST(H2ClientSession, TrailersWithPseudoHeaderAreAStreamError) {
    RawBackend backend;
    backend.get();
    backend.send(frame(kHeaders, kEndHeaders, 1, kStatus200));
    backend.send(frame(kData, 0, 1, "body"));
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 1, kStatus200));
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<StreamClosedEvent>(got[2]).code, ErrorCode::protocol_error);
}

TEST(H2ClientSession, HeaderListOverTheLimitClosesTheStream) {
    ClientSettings cs;
    cs.max_header_list_size = 1024;
    RawBackend backend(cs);
    const auto id = backend.get();
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 1,
                       kStatus200 + literal("x-big", std::string(1000, 'v'))));
    ASSERT_TRUE(backend.status.ok());
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).stream_id, id);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).code, ErrorCode::protocol_error);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).reason, "response header list too large");

    // Just under the limit passes; too large trailers close the stream after its data.
    backend.get();
    backend.send(
        frame(kHeaders, kEndHeaders, 3, kStatus200 + literal("x-big", std::string(900, 'v'))));
    backend.send(frame(kData, 0, 3, "body"));
    backend.send(
        frame(kHeaders, kEndHeaders | kEndStream, 3, literal("x-trailer", std::string(2000, 't'))));
    ASSERT_TRUE(backend.status.ok());
    got = drain(backend.client);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(as<ResponseHeadEvent>(got[0]).head.headers.find("x-big")->value.size(), 900u);
    EXPECT_EQ(as<ResponseDataEvent>(got[1]).data, "body");
    EXPECT_EQ(as<StreamClosedEvent>(got[2]).reason, "response header list too large");
}

TEST(H2ClientSession, ConnectionErrorClosesEveryOpenStream) {
    RawBackend backend;
    const auto a = backend.get("/a");
    const auto b = backend.get("/b");
    backend.send(frame(kHeaders, kEndHeaders | kEndStream, 1, kStatus200));
    drain(backend.client);
    // DATA on stream 0 is a connection error (RFC 9113 6.1).
    const auto status = backend.send(frame(kData, 0, 0, "x"));
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.code, ErrorCode::protocol_error);
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).stream_id, b);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).code, ErrorCode::protocol_error);
    EXPECT_NE(a, b);
    EXPECT_FALSE(backend.client.wants_read());
    EXPECT_FALSE(backend.client.can_open_stream());
    EXPECT_EQ(backend.client.submit_request(request("GET", "/"), "http", true), -1);
    bool goaway = false;
    for (const auto& f : backend.frames()) {
        goaway = goaway || f.type == kGoaway;
    }
    EXPECT_TRUE(goaway);
    EXPECT_FALSE(backend.client.feed(frame(kPing, 0, 0, std::string(8, '\0'))).ok());
}

TEST(H2ClientSession, ConnectionLostClosesOpenStreamsRefusingUnwrittenOnes) {
    RawBackend backend;
    const auto written = backend.get("/a");
    const auto unwritten = backend.client.submit_request(request("GET", "/b"), "http", true);
    backend.client.connection_lost();
    EXPECT_FALSE(backend.client.status().ok());
    EXPECT_EQ(backend.client.status().reason, "connection lost");
    auto got = drain(backend.client);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).stream_id, written);
    EXPECT_EQ(as<StreamClosedEvent>(got[0]).code, ErrorCode::internal_error);
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).stream_id, unwritten);
    EXPECT_EQ(as<StreamClosedEvent>(got[1]).code, ErrorCode::refused_stream);
    EXPECT_FALSE(backend.client.wants_read());
    EXPECT_FALSE(backend.client.wants_write());
    EXPECT_FALSE(backend.client.can_open_stream());
    backend.client.connection_lost();  // idempotent
    EXPECT_FALSE(backend.client.next_event().has_value());
}

}  // namespace
}  // namespace usher::http::h2
