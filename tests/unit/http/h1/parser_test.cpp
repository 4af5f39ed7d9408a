#include "http/h1/parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace usher::http::h1 {
namespace {

using Kind = ParseResult::Kind;

ParseResult parse(std::string_view raw, RequestHead& out, const ParserLimits& limits = {}) {
    return parse_request_head(raw, limits, out);
}

ParseResult parse_response(std::string_view raw, ResponseHead& out, std::string_view method = "GET",
                           const ParserLimits& limits = {}) {
    return parse_response_head(raw, limits, method, out);
}

constexpr std::string_view kBrowserGet =
    "GET /index.html?q=1 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abc123; theme=dark\r\n"
    "\r\n";

TEST(RequestParser, ParsesABrowserGet) {
    RequestHead head;
    const ParseResult r = parse(kBrowserGet, head);
    ASSERT_EQ(r.kind, Kind::complete) << r.error.reason;
    EXPECT_EQ(r.consumed, kBrowserGet.size());
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/index.html?q=1");
    EXPECT_EQ(head.path, "/index.html?q=1");
    EXPECT_EQ(head.authority, "www.example.com");
    EXPECT_EQ(head.version, Version::http11);
    EXPECT_EQ(head.framing, BodyFraming::none);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_FALSE(head.expect_continue);
    EXPECT_FALSE(head.upgrade);
    ASSERT_EQ(head.headers.size(), 7U);
    EXPECT_EQ(head.headers.find("accept-encoding")->value, "gzip, deflate, br");
}

TEST(RequestParser, ViewsPointIntoTheCallersBuffer) {
    const std::string raw(kBrowserGet);
    RequestHead head;
    ASSERT_TRUE(parse(raw, head).ok());
    const auto inside = [&](std::string_view v) {
        return v.data() >= raw.data() && v.data() + v.size() <= raw.data() + raw.size();
    };
    EXPECT_TRUE(inside(head.method));
    EXPECT_TRUE(inside(head.target));
    for (const HeaderField& f : head.headers) {
        EXPECT_TRUE(inside(f.name));
        EXPECT_TRUE(inside(f.value));
    }
}

TEST(RequestParser, EveryPrefixOfAValidRequestIsIncomplete) {
    RequestHead head;
    for (std::size_t n = 0; n < kBrowserGet.size(); ++n) {
        const ParseResult r = parse(kBrowserGet.substr(0, n), head);
        ASSERT_EQ(r.kind, Kind::incomplete) << "prefix of " << n << " bytes: " << r.error.reason;
    }
    EXPECT_TRUE(parse(kBrowserGet, head).ok());
}

TEST(RequestParser, ByteAtATimeFeedingFindsTheSameHeadAsWholeInput) {
    const std::string raw =
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
        "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    std::string buf;
    RequestHead head;
    ParseResult r;
    for (char c : raw) {
        buf.push_back(c);
        r = parse(buf, head);
        if (r.kind != Kind::incomplete) {
            break;
        }
    }
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.consumed, raw.find("\r\n\r\n") + 4);
    EXPECT_EQ(head.framing, BodyFraming::chunked);
}

TEST(RequestParser, ConsumesOnlyTheHeadOfPipelinedRequests) {
    const std::string raw = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestHead head;
    ParseResult r = parse(raw, head);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(head.path, "/a");
    r = parse(std::string_view(raw).substr(r.consumed), head);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(head.path, "/b");
}

TEST(RequestParser, ReportsErrorsInCompleteLinesBeforeTheHeadEnds) {
    RequestHead head;
    const ParseResult r = parse("GET / HTTP/1.1\r\nBad Name: x\r\nHost: a", head);
    EXPECT_EQ(r.kind, Kind::error);
    EXPECT_EQ(r.error.status, 400);
}

TEST(RequestParser, DerivesContentLengthFraming) {
    RequestHead head;
    ASSERT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::content_length);
    EXPECT_EQ(head.content_length, 42U);
}

TEST(RequestParser, AcceptsTheLargestContentLength) {
    RequestHead head;
    ASSERT_TRUE(
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", head)
            .ok());
    EXPECT_EQ(head.content_length, 18446744073709551615ULL);
    const ParseResult r =
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", head);
    EXPECT_EQ(r.error.status, 400);
}

TEST(RequestParser, CollapsesIdenticalContentLengthsIntoOneField) {
    RequestHead head;
    ASSERT_TRUE(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nHost: a\r\n"
                      "Content-Length: 5\r\nX: y\r\n\r\n",
                      head)
                    .ok());
    EXPECT_EQ(head.content_length, 5U);
    ASSERT_EQ(head.headers.count("content-length"), 1U);
    EXPECT_EQ(head.headers.find("content-length")->value, "5");
    EXPECT_EQ(head.headers.fields()[0].name, "Content-Length");
    EXPECT_EQ(head.headers.fields()[2].name, "X");
}

TEST(RequestParser, AcceptsCaseInsensitiveChunkedWithOws) {
    RequestHead head;
    ASSERT_TRUE(
        parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t ChUnKeD \t\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::chunked);
}

TEST(RequestParser, RejectsContentLengthWithTransferEncoding) {
    RequestHead head;
    const ParseResult r = parse(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        head);
    EXPECT_EQ(r.kind, Kind::error);
    EXPECT_EQ(r.error.status, 400);
    EXPECT_FALSE(r.error.reason.empty());
}

TEST(RequestParser, AnswersUnknownTransferCodingWith501) {
    RequestHead head;
    EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", head)
                  .error.status,
              501);
}

TEST(RequestParser, KeepAliveDefaultsByVersionAndConnectionTokens) {
    RequestHead head;
    ASSERT_TRUE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", head).ok());
    EXPECT_FALSE(head.keep_alive);
    ASSERT_TRUE(parse("GET / HTTP/1.0\r\n\r\n", head).ok());
    EXPECT_FALSE(head.keep_alive);
    EXPECT_TRUE(head.authority.empty());
    ASSERT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", head).ok());
    EXPECT_TRUE(head.keep_alive);
    ASSERT_TRUE(
        parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", head).ok());
    EXPECT_FALSE(head.keep_alive);
}

TEST(RequestParser, DetectsExpectContinue) {
    RequestHead head;
    ASSERT_TRUE(
        parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
              head)
            .ok());
    EXPECT_TRUE(head.expect_continue);
    ASSERT_TRUE(parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", head).ok());
    EXPECT_FALSE(head.expect_continue);
    ASSERT_TRUE(parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", head).ok());
    EXPECT_FALSE(head.expect_continue);  // RFC 9110 10.1.1: ignored in HTTP/1.0
}

TEST(RequestParser, DetectsUpgradeOnlyWithConnectionTokenAndUpgradeField) {
    RequestHead head;
    ASSERT_TRUE(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n",
                      head)
                    .ok());
    EXPECT_TRUE(head.upgrade);
    ASSERT_TRUE(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", head).ok());
    EXPECT_FALSE(head.upgrade);
    ASSERT_TRUE(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", head).ok());
    EXPECT_FALSE(head.upgrade);
}

TEST(RequestParser, DerivesPathAndAuthorityFromAbsoluteForm) {
    RequestHead head;
    ASSERT_TRUE(
        parse("GET http://Example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", head)
            .ok());
    EXPECT_EQ(head.authority, "Example.com:8080");
    EXPECT_EQ(head.path, "/a/b?c");
    ASSERT_TRUE(parse("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", head).ok());
    EXPECT_EQ(head.path, "/");
    ASSERT_TRUE(parse("GET http://example.com/x HTTP/1.0\r\n\r\n", head).ok());
    EXPECT_EQ(head.authority, "example.com");
}

TEST(RequestParser, RejectsAbsoluteFormDisagreeingWithHost) {
    RequestHead head;
    EXPECT_EQ(parse("GET http://a.com/ HTTP/1.1\r\nHost: b.com\r\n\r\n", head).error.status, 400);
}

TEST(RequestParser, KeepsAsteriskAndAuthorityFormsAsPath) {
    RequestHead head;
    ASSERT_TRUE(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", head).ok());
    EXPECT_EQ(head.path, "*");
    EXPECT_EQ(head.authority, "a");
    ASSERT_TRUE(parse("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n", head).ok());
    EXPECT_EQ(head.path, "a.com:443");
    EXPECT_EQ(head.authority, "a.com:443");
    ASSERT_TRUE(parse("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", head).ok());
    EXPECT_EQ(parse("CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", head).error.status, 400);
    EXPECT_EQ(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n", head).error.status, 400);
}

TEST(RequestParser, SkipsAFewLeadingEmptyLines) {
    RequestHead head;
    const std::string raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const ParseResult r = parse(raw, head);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.consumed, raw.size());
    EXPECT_EQ(parse("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", head).error.status,
              400);
    EXPECT_EQ(parse("\r", head).kind, Kind::incomplete);
}

TEST(RequestParser, AcceptsBareLfOnlyWhenAllowed) {
    RequestHead head;
    const std::string raw = "GET / HTTP/1.1\nHost: a\n\n";
    EXPECT_EQ(parse(raw, head).error.status, 400);
    ParserLimits lenient;
    lenient.allow_bare_lf = true;
    const ParseResult r = parse(raw, head, lenient);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.consumed, raw.size());
    EXPECT_EQ(head.authority, "a");
}

TEST(RequestParser, Returns414AsSoonAsTheRequestLineExceedsTheLimit) {
    ParserLimits limits;
    limits.max_request_line = 32;
    RequestHead head;
    const std::string line = "GET /" + std::string(18, 'a') + " HTTP/1.1";  // exactly 32 bytes
    ASSERT_EQ(line.size(), 32U);
    EXPECT_TRUE(parse(line + "\r\nHost: a\r\n\r\n", head, limits).ok());
    EXPECT_EQ(parse(line + "\r", head, limits).kind, Kind::incomplete);
    const std::string longer = "GET /" + std::string(100, 'a');  // no line end yet
    EXPECT_EQ(parse(longer.substr(0, 33), head, limits).error.status, 414);
    EXPECT_EQ(parse(longer.substr(0, 32), head, limits).kind, Kind::incomplete);
    EXPECT_EQ(parse("GET /" + std::string(19, 'a') + " HTTP/1.1\r\n", head, limits).error.status,
              414);
}

TEST(RequestParser, Returns431AsSoonAsTheHeadExceedsTheLimit) {
    ParserLimits limits;
    limits.max_header_bytes = 64;
    RequestHead head;
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100, 'b');
    EXPECT_EQ(parse(raw.substr(0, 64), head, limits).kind, Kind::incomplete);
    EXPECT_EQ(parse(raw.substr(0, 65), head, limits).error.status, 431);
    const std::string exact =
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(64 - 32, 'b') + "\r\n\r\n";
    ASSERT_EQ(exact.size(), 64U);
    EXPECT_TRUE(parse(exact, head, limits).ok());
}

TEST(RequestParser, Returns431ForTooManyFields) {
    ParserLimits limits;
    limits.max_header_count = 3;
    RequestHead head;
    EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", head, limits).ok());
    EXPECT_EQ(
        parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n", head, limits).error.status,
        431);
}

TEST(RequestParser, TrimsOwsAroundFieldValuesAndKeepsInnerSpaces) {
    RequestHead head;
    ASSERT_TRUE(
        parse("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t a  b \t\r\nX-Empty:\r\n\r\n", head).ok());
    EXPECT_EQ(head.headers.find("x-a")->value, "a  b");
    EXPECT_EQ(head.headers.find("x-empty")->value, "");
    EXPECT_EQ(head.authority, "a");
}

TEST(RequestParser, ClearsThePreviousHead) {
    RequestHead head;
    ASSERT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", head).ok());
    ASSERT_TRUE(parse("GET / HTTP/1.1\r\nHost: b\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::none);
    EXPECT_EQ(head.headers.size(), 1U);
}

TEST(ResponseParser, ParsesAContentLengthResponse) {
    ResponseHead head;
    const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    const ParseResult r = parse_response(raw, head);
    ASSERT_TRUE(r.ok()) << r.error.reason;
    EXPECT_EQ(r.consumed, raw.size() - 5);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.reason, "OK");
    EXPECT_EQ(head.framing, BodyFraming::content_length);
    EXPECT_EQ(head.content_length, 5U);
    EXPECT_TRUE(head.keep_alive);
}

TEST(ResponseParser, EveryPrefixOfAValidResponseIsIncomplete) {
    const std::string raw = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    ResponseHead head;
    for (std::size_t n = 0; n < raw.size(); ++n) {
        ASSERT_EQ(parse_response(raw.substr(0, n), head).kind, Kind::incomplete) << n;
    }
    ASSERT_TRUE(parse_response(raw, head).ok());
    EXPECT_EQ(head.framing, BodyFraming::chunked);
}

TEST(ResponseParser, AcceptsStatusLineWithoutReason) {
    ResponseHead head;
    ASSERT_TRUE(parse_response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", head).ok());
    EXPECT_EQ(head.reason, "");
    ASSERT_TRUE(parse_response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", head).ok());
    EXPECT_EQ(head.reason, "");
}

TEST(ResponseParser, BodyRunsUntilCloseWithoutFraming) {
    ResponseHead head;
    ASSERT_TRUE(parse_response("HTTP/1.1 200 OK\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::until_close);
    EXPECT_FALSE(head.keep_alive);
}

TEST(ResponseParser, HeadAndNotModifiedAndInformationalHaveNoBody) {
    ResponseHead head;
    ASSERT_TRUE(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head, "HEAD").ok());
    EXPECT_EQ(head.framing, BodyFraming::none);
    ASSERT_TRUE(
        parse_response("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::none);
    ASSERT_TRUE(parse_response("HTTP/1.1 100 Continue\r\n\r\n", head).ok());
    EXPECT_EQ(head.framing, BodyFraming::none);
    ASSERT_TRUE(
        parse_response("HTTP/1.1 200 Connection established\r\n\r\n", head, "CONNECT").ok());
    EXPECT_EQ(head.framing, BodyFraming::none);
    EXPECT_TRUE(head.keep_alive);
}

TEST(ResponseParser, ReportsEveryErrorAs502) {
    ResponseHead head;
    EXPECT_EQ(parse_response("HTTP/2.0 200 OK\r\n\r\n", head).error.status, 502);
    EXPECT_EQ(
        parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", head)
            .error.status,
        502);
}

TEST(ResponseParser, Http10KeepsAliveOnlyWhenAsked) {
    ResponseHead head;
    ASSERT_TRUE(parse_response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", head).ok());
    EXPECT_FALSE(head.keep_alive);
    ASSERT_TRUE(parse_response(
                    "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", head)
                    .ok());
    EXPECT_TRUE(head.keep_alive);
}

}  // namespace
}  // namespace usher::http::h1
