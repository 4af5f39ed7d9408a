// Request smuggling through the real usher: every ambiguous framing is answered 400/501 by usher
// and the backend receives nothing that was smuggled. Ambiguous backend responses become 502.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness.hpp"

namespace usher::test {
namespace {

using namespace std::string_view_literals;

struct SmuggleCase {
    const char* name;
    std::string_view request;
    int status;
    // Keeps ctest names short (gtest would otherwise print the raw bytes of the struct).
    friend void PrintTo(const SmuggleCase& c, std::ostream* os) { *os << c.name; }
};

class Smuggling : public ::testing::TestWithParam<SmuggleCase> {};

TEST_P(Smuggling, RejectedAndNothingReachesTheBackend) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address()));
    ASSERT_TRUE(usher.started()) << usher.log();
    int fd = connect_to(usher.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, GetParam().request));
    auto bytes = read_to_close(fd, 5s);  // usher must close: the framing is unknown
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << "no response: " << bytes;
    EXPECT_EQ(m->status(), GetParam().status) << bytes;
    EXPECT_EQ(m->header("connection").value_or(""), "close");
    EXPECT_EQ(backend->requests().size(), 0u) << "the backend received a request";
    // Exactly one response: nothing smuggled was answered as a second request.
    std::size_t used = 0;
    parse_response(bytes, &used);
    EXPECT_EQ(bytes.substr(used), "");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Smuggling,
    ::testing::Values(
        SmuggleCase{
            "ClTe",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"sv,
            400},
        SmuggleCase{
            "TeCl",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"sv,
            400},
        SmuggleCase{"TeSpaceBeforeColon",
                    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"sv,
                    400},
        SmuggleCase{"TeObfuscatedValue",
                    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"sv,
                    501},
        SmuggleCase{
            "TeChunkedThenIdentity",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"sv,
            400},
        SmuggleCase{
            "TeObsFold",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"sv, 400},
        SmuggleCase{
            "DuplicateDifferentContentLength",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"sv,
            400},
        SmuggleCase{"ContentLengthPlus",
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"sv, 400},
        SmuggleCase{"ContentLengthHex",
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc"sv, 400},
        SmuggleCase{"TeInHttp10",
                    "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"sv,
                    400},
        SmuggleCase{"BareLfLineEndings", "GET / HTTP/1.1\nHost: x\n\n"sv, 400},
        SmuggleCase{"BareCrInHeader", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"sv, 400},
        SmuggleCase{"NulInHeader", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"sv, 400},
        SmuggleCase{"MissingHost", "GET / HTTP/1.1\r\n\r\n"sv, 400},
        SmuggleCase{"DuplicateHost", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"sv, 400},
        SmuggleCase{"AbsoluteFormDisagreesWithHost",
                    "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n"sv, 400},
        SmuggleCase{"BadHttpVersion", "GET / HTTP/1.2\r\nHost: x\r\n\r\n"sv, 505},
        SmuggleCase{"InvalidMethodToken", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n"sv, 400}),
    [](const auto& row) { return std::string(row.param.name); });

TEST(SmugglingBody, BadChunkSizeInStreamedBodyIsRejectedAndConnectionClosed) {
    auto backend = make_echo_backend();
    UsherProcess usher(cluster_config(backend->address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    // Valid head, broken chunk framing, then a smuggled request.
    send_all(fd,
             "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\nzz\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    auto bytes = read_to_close(fd);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 400);
    for (const auto& r : backend->requests()) {
        EXPECT_EQ(r.start_line.find("/smuggled"), std::string::npos);
    }
}

struct BadResponseCase {
    const char* name;
    const char* response;
    friend void PrintTo(const BadResponseCase& c, std::ostream* os) { *os << c.name; }
};
class AmbiguousResponse : public ::testing::TestWithParam<BadResponseCase> {};

TEST_P(AmbiguousResponse, BecomesA502) {
    std::string response = GetParam().response;
    FakeBackend backend([response](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, response);
        }
    });
    UsherProcess usher(cluster_config(backend.address()));
    ASSERT_TRUE(usher.started());
    auto r = curl_request(usher.url("/"));
    EXPECT_EQ(r.status, 502) << r.body;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AmbiguousResponse,
    ::testing::Values(
        BadResponseCase{
            "ClAndTe",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadResponseCase{"DifferentContentLengths",
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        BadResponseCase{"ObsFold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
        BadResponseCase{"GarbageStatusLine", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"},
        BadResponseCase{"NotHttp", "SSH-2.0-OpenSSH_9.2\r\n\r\n"}),
    [](const auto& row) { return std::string(row.param.name); });

}  // namespace
}  // namespace usher::test
