# Writes a C++ header that holds an HTML file's bytes as `inline constexpr std::string_view NAME`
# in namespace usher::admin. Run at build time by dashboard.cmake:
#   cmake -DINPUT=dashboard.html -DOUTPUT=dashboard_html.hpp -DNAME=kDashboardHtml -P embed_html.cmake
# The bytes go into raw string literals of at most kChunk bytes each, cut after a newline
# (-Wpedantic warns about literals over 64 KiB, the length ISO C++ asks compilers to support),
# and are joined into one constexpr array, so the page may grow past 64 KiB.
cmake_minimum_required(VERSION 3.25)
foreach(var INPUT OUTPUT NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_html.cmake: -D${var}=... is required")
  endif()
endforeach()

set(kChunk 16000)
set(delim "usher_html")
file(READ "${INPUT}" html)
string(REPLACE "\r\n" "\n" html "${html}")  # compilers turn CRLF in a raw literal into LF
string(FIND "${html}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains ')${delim}\"', which would end the raw string literal")
endif()
string(LENGTH "${html}" size)
if(size EQUAL 0)
  message(FATAL_ERROR "${INPUT} is empty")
endif()

set(parts "")
set(rest "${html}")
string(LENGTH "${rest}" left)
while(left GREATER 0)
  if(left GREATER kChunk)
    string(SUBSTRING "${rest}" 0 ${kChunk} piece)
    string(FIND "${piece}" "\n" cut REVERSE)  # cut after a newline, never inside a UTF-8 sequence
    if(cut EQUAL -1)
      message(FATAL_ERROR "${INPUT} has a line longer than ${kChunk} bytes")
    endif()
    math(EXPR cut "${cut} + 1")
    string(SUBSTRING "${rest}" 0 ${cut} piece)
    string(SUBSTRING "${rest}" ${cut} -1 rest)
  else()
    set(piece "${rest}")
    set(rest "")
  endif()
  string(APPEND parts "    R\"${delim}(${piece})${delim}\",\n")
  string(LENGTH "${rest}" left)
endwhile()

get_filename_component(source "${INPUT}" NAME)
file(CONFIGURE OUTPUT "${OUTPUT}.tmp" @ONLY CONTENT [=[
// Generated at build time from @source@ by embed_html.cmake; edit the .html, not this file.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace usher::admin {

namespace embedded_@NAME@ {
inline constexpr std::string_view kParts[] = {
@parts@};
inline constexpr std::size_t kSize = @size@;

constexpr std::size_t parts_size() {
    std::size_t n = 0;
    for (std::string_view part : kParts) {
        n += part.size();
    }
    return n;
}
static_assert(parts_size() == kSize, "the compiler changed the page's bytes (CRLF? charset?)");

constexpr std::array<char, kSize> join() {
    std::array<char, kSize> out{};
    std::size_t at = 0;
    for (std::string_view part : kParts) {
        for (char c : part) {
            out[at++] = c;
        }
    }
    return out;
}
inline constexpr std::array<char, kSize> kBytes = join();
}  // namespace embedded_@NAME@

inline constexpr std::string_view @NAME@{embedded_@NAME@::kBytes.data(),
                                      embedded_@NAME@::kSize};

}  // namespace usher::admin
]=])
# Only a changed header touches the file, so an unchanged page recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
