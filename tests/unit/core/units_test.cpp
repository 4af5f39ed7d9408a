#include "core/units.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace usher {
namespace {

using namespace std::chrono_literals;

std::string duration_error(std::string_view text) {
    std::string error;
    EXPECT_FALSE(parse_duration(text, &error).has_value()) << text;
    return error;
}

std::string size_error(std::string_view text) {
    std::string error;
    EXPECT_FALSE(parse_size(text, &error).has_value()) << text;
    return error;
}

TEST(ParseDuration, AcceptsEachUnit) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("30s"), 30s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("1h"), 1h);
}

TEST(ParseDuration, AcceptsZeroWithoutUnit) {
    EXPECT_EQ(parse_duration("0"), 0ms);
    EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(ParseDuration, AcceptsFractionsThatAreWholeMilliseconds) {
    EXPECT_EQ(parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(parse_duration("0.25h"), 15min);
    EXPECT_EQ(duration_error("1.5ms"), "\"1.5ms\" is not a whole number of milliseconds");
    EXPECT_EQ(duration_error("1.0000001s"), "\"1.0000001s\" has too many decimal places");
}

TEST(ParseDuration, AcceptsCompoundValuesAndSpaces) {
    EXPECT_EQ(parse_duration("1m30s"), 90s);
    EXPECT_EQ(parse_duration("1h 30m"), 90min);
    EXPECT_EQ(parse_duration(" 10 s "), 10s);
}

TEST(ParseDuration, RejectsNegative) {
    EXPECT_EQ(duration_error("-5s"), "negative durations are not allowed");
}

TEST(ParseDuration, RejectsMissingUnit) {
    EXPECT_EQ(duration_error("30"), "missing unit in \"30\" (use ms, s, m or h)");
    EXPECT_EQ(duration_error("1m30"), "missing unit in \"1m30\" (use ms, s, m or h)");
}

TEST(ParseDuration, RejectsUnknownUnit) {
    EXPECT_EQ(duration_error("30x"), "unknown unit \"x\" (use ms, s, m or h)");
    EXPECT_EQ(duration_error("2sec"), "unknown unit \"sec\" (use ms, s, m or h)");
    EXPECT_EQ(duration_error("1S"), "unknown unit \"S\" (use ms, s, m or h)");
}

TEST(ParseDuration, RejectsGarbage) {
    EXPECT_EQ(duration_error(""), "empty duration (expected e.g. 250ms, 30s, 5m)");
    EXPECT_EQ(duration_error("abc"), "\"abc\" is not a duration (expected e.g. 250ms, 30s, 5m)");
    EXPECT_EQ(duration_error("1.s"), "\"1.s\" is not a duration (expected e.g. 250ms, 30s, 5m)");
    EXPECT_EQ(duration_error("+1s"), "\"+1s\" is not a duration (expected e.g. 250ms, 30s, 5m)");
}

TEST(ParseDuration, RejectsOverflow) {
    EXPECT_EQ(duration_error("99999999999999999999s"), "\"99999999999999999999s\" is too large");
    EXPECT_EQ(duration_error("9999999999999999h"), "\"9999999999999999h\" is too large");
    EXPECT_EQ(duration_error("9223372036854775808ms"), "\"9223372036854775808ms\" is too large");
    EXPECT_EQ(parse_duration("9223372036854775807ms"),
              std::chrono::milliseconds{std::numeric_limits<std::int64_t>::max()});
}

TEST(ParseSize, AcceptsPlainBytes) {
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("0"), 0u);
    EXPECT_EQ(parse_size("100B"), 100u);
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
    EXPECT_EQ(parse_size("16KiB"), 16u * 1024);
    EXPECT_EQ(parse_size("10MiB"), 10u * 1024 * 1024);
    EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
    EXPECT_EQ(parse_size("2TiB"), 2ull << 40);
    EXPECT_EQ(parse_size("1KB"), 1000u);
    EXPECT_EQ(parse_size("1MB"), 1000u * 1000);
    EXPECT_EQ(parse_size("3GB"), 3'000'000'000ull);
    EXPECT_EQ(parse_size("16kib"), 16u * 1024);
    EXPECT_EQ(parse_size("10 MiB"), 10u * 1024 * 1024);
    EXPECT_EQ(parse_size("1.5KiB"), 1536u);
}

TEST(ParseSize, RejectsAmbiguousSingleLetterUnits) {
    EXPECT_EQ(size_error("16K"),
              "ambiguous unit \"K\" (write KiB for powers of 1024 or KB for powers of 1000)");
    EXPECT_EQ(size_error("1m"),
              "ambiguous unit \"m\" (write MiB for powers of 1024 or MB for powers of 1000)");
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
    EXPECT_EQ(size_error("lots"), "\"lots\" is not a size (expected e.g. 512, 16KiB, 10MiB)");
    EXPECT_EQ(size_error("12 bytes"),
              "unknown unit \"bytes\" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
    EXPECT_EQ(size_error("-1"), "negative sizes are not allowed");
    EXPECT_EQ(size_error("0.5"), "\"0.5\" is not a whole number of bytes");
    EXPECT_EQ(size_error("18446744073709551616"), "\"18446744073709551616\" is too large");
    EXPECT_EQ(size_error("16777216TiB"), "\"16777216TiB\" is too large");
    EXPECT_EQ(parse_size("18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
    EXPECT_EQ(format_duration(0ms), "0");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(30s), "30s");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(5min), "5m");
    EXPECT_EQ(format_duration(2h), "2h");
}

TEST(FormatSize, UsesTheLargestExactBinaryUnit) {
    EXPECT_EQ(format_size(0), "0");
    EXPECT_EQ(format_size(512), "512");
    EXPECT_EQ(format_size(1000), "1000");
    EXPECT_EQ(format_size(16 * 1024), "16KiB");
    EXPECT_EQ(format_size(10 * 1024 * 1024), "10MiB");
    EXPECT_EQ(format_size(1ull << 30), "1GiB");
}

TEST(Units, FormatThenParseRoundTrips) {
    const std::chrono::milliseconds durations[] = {0ms, 1ms, 999ms, 1s, 61s, 3600s, 86400s};
    for (const auto d : durations) {
        EXPECT_EQ(parse_duration(format_duration(d)), d);
    }
    for (const std::uint64_t n : {0ull, 1ull, 1023ull, 1024ull, 65536ull, 3ull << 30, 5ull << 40}) {
        EXPECT_EQ(parse_size(format_size(n)), n);
    }
}

}  // namespace
}  // namespace usher
