#include "http/message.hpp"

#include <gtest/gtest.h>

namespace usher::http {
namespace {

TEST(Message, NamesVersionsAndReasons) {
    EXPECT_EQ(version_string(Version::http10), "HTTP/1.0");
    EXPECT_EQ(version_string(Version::http11), "HTTP/1.1");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(799), "Unknown");
}

TEST(Message, ClearResetsDerivedFields) {
    RequestHead head;
    head.method = "POST";
    head.framing = BodyFraming::chunked;
    head.keep_alive = false;
    head.headers.add_copy("A", "b");
    head.clear();
    EXPECT_TRUE(head.method.empty());
    EXPECT_EQ(head.framing, BodyFraming::none);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_TRUE(head.headers.empty());
}

}  // namespace
}  // namespace usher::http
