#pragma once
// Durations and sizes as people write them in config files and on the command line.
// Used by the config loader and the CLI (--timeout NAME=DURATION); format_* produce the same
// spelling back for messages and docs, so parse(format(x)) == x.
//
// Durations: one or more <number><unit> parts, e.g. "250ms", "30s", "5m", "1h", "1.5s", "1m30s".
//   Units: ms, s, m, h. A bare "0" needs no unit. The result must be a whole number of
//   milliseconds ("0.5ms" is rejected). Negative values, a missing or unknown unit and values
//   that do not fit in std::chrono::milliseconds are rejected.
// Sizes: a plain byte count ("512") or <number><unit>, e.g. "16KiB", "10MiB", "1.5GiB".
//   Binary units KiB, MiB, GiB, TiB (1024^n); decimal units KB, MB, GB, TB (1000^n); B = bytes.
//   Units are case-insensitive ("16kib" works). A bare "K", "M", "G" or "T" is rejected as
//   ambiguous (the message says to write KiB or KB). The result must be a whole number of bytes
//   and fit in 64 bits.
// Whitespace around the value and between a number and its unit is allowed ("10 MiB").
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace usher {

// Returns the duration, or nullopt and (if error is not null) a one-line reason such as
// `unknown unit "x" (use ms, s, m or h)`. The reason does not repeat the field name.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text,
                                                        std::string* error = nullptr);

// Returns the size in bytes, or nullopt and (if error is not null) a one-line reason.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error = nullptr);

// "0", "250ms", "30s", "5m", "1h", "1500ms": the largest unit that divides the value exactly.
std::string format_duration(std::chrono::milliseconds d);

// "0", "512", "16KiB", "10MiB", "1GiB": the largest binary unit that divides the value exactly.
std::string format_size(std::uint64_t bytes);

}  // namespace usher
