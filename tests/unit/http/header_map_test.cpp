#include "http/header_map.hpp"

#include <gtest/gtest.h>

#include <string>

namespace usher::http {
namespace {

TEST(Iequals, ComparesAsciiCaseInsensitively) {
    EXPECT_TRUE(iequals("Content-Length", "content-length"));
    EXPECT_TRUE(iequals("", ""));
    EXPECT_FALSE(iequals("Host", "Hosts"));
    EXPECT_FALSE(iequals("a-b", "a_b"));
    EXPECT_FALSE(iequals("\xc3\xa9", "\xc3\x89"));  // no Unicode folding
}

TEST(HeaderMap, FindsFieldsCaseInsensitivelyInOrder) {
    HeaderMap map;
    map.add("Host", "a");
    map.add("Accept", "x");
    map.add("accept", "y");
    ASSERT_NE(map.find("ACCEPT"), nullptr);
    EXPECT_EQ(map.find("ACCEPT")->value, "x");
    EXPECT_EQ(map.count("accept"), 2U);
    EXPECT_TRUE(map.contains("host"));
    EXPECT_EQ(map.find("missing"), nullptr);
    EXPECT_EQ(map.size(), 3U);
}

TEST(HeaderMap, RemovePreservesOrderOfTheRest) {
    HeaderMap map;
    map.add("A", "1");
    map.add("X", "drop");
    map.add("B", "2");
    map.add("x", "drop");
    map.add("C", "3");
    EXPECT_EQ(map.remove("X"), 2U);
    ASSERT_EQ(map.size(), 3U);
    EXPECT_EQ(map.fields()[0].name, "A");
    EXPECT_EQ(map.fields()[1].name, "B");
    EXPECT_EQ(map.fields()[2].name, "C");
    EXPECT_EQ(map.remove("X"), 0U);
}

TEST(HeaderMap, SetCopyReplacesEveryOccurrenceAtTheFirstPosition) {
    HeaderMap map;
    map.add("A", "1");
    map.add("Via", "old1");
    map.add("B", "2");
    map.add("via", "old2");
    map.set_copy("VIA", "new");
    ASSERT_EQ(map.size(), 3U);
    EXPECT_EQ(map.fields()[1].value, "new");
    EXPECT_EQ(map.fields()[2].name, "B");
    map.set_copy("Absent", "v");
    EXPECT_EQ(map.fields().back().name, "Absent");
}

TEST(HeaderMap, SetCopyAcceptsAValueViewingItsOwnField) {
    HeaderMap map;
    map.add_copy("X", "self");
    map.add_copy("x", "other");
    const std::string_view own = map.find("x")->value;
    map.set_copy("x", own);
    ASSERT_EQ(map.size(), 1U);
    EXPECT_EQ(map.fields()[0].value, "self");
}

TEST(HeaderMap, AddCopyOwnsItsBytes) {
    HeaderMap map;
    {
        std::string name = "X-Temp";
        std::string value = "value";
        map.add_copy(name, value);
        name.assign(name.size(), '?');
        value.assign(value.size(), '?');
    }
    EXPECT_EQ(map.fields()[0].name, "X-Temp");
    EXPECT_EQ(map.fields()[0].value, "value");
}

TEST(HeaderMap, InternSpansSeveralBlocksAndKeepsEarlierViews) {
    HeaderMap map;
    std::vector<std::string_view> views;
    for (int i = 0; i < 200; ++i) {
        views.push_back(map.intern(std::string(100, static_cast<char>('a' + i % 26))));
    }
    for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(views[static_cast<std::size_t>(i)],
                  std::string(100, static_cast<char>('a' + i % 26)));
    }
}

TEST(HeaderMap, InternsValuesLargerThanABlock) {
    HeaderMap map;
    const std::string big(10000, 'z');
    const std::string_view small = map.intern("small");
    const std::string_view copy = map.intern(big);
    EXPECT_EQ(copy, big);
    EXPECT_EQ(small, "small");
    map.clear();
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(map.intern(big), big);
}

TEST(HeaderMap, ReusesArenaBlocksAfterClear) {
    HeaderMap map;
    const std::string_view first = map.intern("hello");
    map.clear();
    const std::string_view second = map.intern("world");
    EXPECT_EQ(first.data(), second.data());  // same block, same offset: nothing was allocated
    EXPECT_EQ(second, "world");
}

TEST(HeaderMap, InternOfEmptyIsEmpty) {
    HeaderMap map;
    EXPECT_TRUE(map.intern("").empty());
}

TEST(HeaderMap, MovesWithItsArena) {
    HeaderMap map;
    map.add_copy("Name", "Value");
    HeaderMap moved = std::move(map);
    EXPECT_EQ(moved.find("name")->value, "Value");
}

}  // namespace
}  // namespace usher::http
