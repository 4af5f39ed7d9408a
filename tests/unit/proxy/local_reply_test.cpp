#include "proxy/local_reply.hpp"

#include <gtest/gtest.h>

namespace usher::proxy {
namespace {

TEST(LocalReply, PlainTextByDefaultWithLengthAndClose) {
    std::string out;
    render_local_reply({.status = 502, .detail = "upstream reset", .close = true}, out);
    EXPECT_EQ(out,
              "HTTP/1.1 502 Bad Gateway\r\nServer: usher\r\nContent-Type: text/plain; "
              "charset=utf-8\r\nContent-Length: 32\r\nConnection: close\r\n\r\n"
              "502 Bad Gateway: upstream reset\n");
}

TEST(LocalReply, JsonWhenAskedAndEscaped) {
    std::string out;
    render_local_reply({.status = 404, .detail = "a \"quoted\" thing", .json = true}, out);
    EXPECT_NE(out.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(
        out.find(
            "{\"status\":404,\"error\":\"Not Found\",\"detail\":\"a \\\"quoted\\\" thing\"}\n"),
        std::string::npos)
        << out;
}

TEST(LocalReply, HeadOnlyKeepsLengthButSendsNoBody) {
    std::string out;
    render_local_reply(
        {.status = 200, .body = "hello", .content_type = "text/plain", .head_only = true}, out);
    EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\n")) << out;
}

TEST(LocalReply, RedirectCarriesLocation) {
    std::string out;
    render_local_reply({.status = 308, .location = "https://x.test/"}, out);
    EXPECT_NE(out.find("HTTP/1.1 308 Permanent Redirect\r\n"), std::string::npos) << out;
    EXPECT_NE(out.find("Location: https://x.test/\r\n"), std::string::npos);
}

TEST(LocalReply, PrefersJsonOnlyWhenJsonComesFirst) {
    EXPECT_TRUE(prefers_json("application/json"));
    EXPECT_TRUE(prefers_json("application/json, text/plain"));
    EXPECT_FALSE(prefers_json("text/html,application/json"));
    EXPECT_FALSE(prefers_json("*/*"));
}

}  // namespace
}  // namespace usher::proxy
