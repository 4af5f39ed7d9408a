// RFC 9112 / RFC 9110 conformance and request-smuggling table for parse_request_head.
// One row per rule: the row name says the behaviour, and becomes the ctest case name.
// Every defect found in the request parser becomes a row here first.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/h1/parser.hpp"

namespace usher::http::h1 {
namespace {

using namespace std::string_literals;

struct Expect {
    bool complete = false;
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;
    std::uint16_t status = 0;  // error status when !complete
};

Expect ok(BodyFraming framing = BodyFraming::none, std::uint64_t content_length = 0) {
    return {true, framing, content_length, 0};
}
Expect ok_length(std::uint64_t n) {
    return ok(BodyFraming::content_length, n);
}
Expect ok_chunked() {
    return ok(BodyFraming::chunked);
}
Expect rejected(std::uint16_t status) {
    return {false, BodyFraming::none, 0, status};
}

struct Row {
    std::string name;
    std::string raw;  // a whole request head
    Expect expect;  // Keeps ctest names short (gtest would otherwise print the struct's raw bytes).
    friend void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }
};

// Builds "POST / HTTP/1.1\r\nHost: a\r\n<fields>\r\n".
std::string post(const std::string& fields) {
    return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
}
std::string get_line(const std::string& line) {
    return line + "\r\nHost: a\r\n\r\n";
}

std::vector<Row> rows() {
    const std::string many_fields = [] {
        std::string s;
        for (int i = 0; i < 101; ++i) {
            s += "X-" + std::to_string(i) + ": v\r\n";
        }
        return s;
    }();
    return {
        // Well-formed requests and their framing.
        {"accepts_origin_form_get", get_line("GET / HTTP/1.1"), ok()},
        {"accepts_content_length", post("Content-Length: 5\r\n"), ok_length(5)},
        {"accepts_content_length_zero", post("Content-Length: 0\r\n"), ok_length(0)},
        {"accepts_content_length_with_leading_zeros", post("Content-Length: 005\r\n"),
         ok_length(5)},
        {"accepts_max_uint64_content_length", post("Content-Length: 18446744073709551615\r\n"),
         ok_length(18446744073709551615ULL)},
        {"collapses_repeated_identical_content_length",
         post("Content-Length: 5\r\nContent-Length: 5\r\n"), ok_length(5)},
        {"collapses_identical_content_length_list", post("Content-Length: 5, 5\r\n"), ok_length(5)},
        {"accepts_chunked", post("Transfer-Encoding: chunked\r\n"), ok_chunked()},
        {"accepts_chunked_any_case", post("Transfer-Encoding: ChUnKeD\r\n"), ok_chunked()},
        {"accepts_tab_as_ows_around_chunked", post("Transfer-Encoding:\tchunked\t\r\n"),
         ok_chunked()},
        {"accepts_http10_without_host", "GET / HTTP/1.0\r\n\r\n", ok()},
        {"accepts_http10_content_length", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
         ok_length(3)},
        {"ignores_leading_empty_lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ok()},
        {"accepts_absolute_form_matching_host",
         "GET http://a.example/x HTTP/1.1\r\nHost: A.example\r\n\r\n", ok()},
        {"accepts_asterisk_form_for_options", get_line("OPTIONS * HTTP/1.1"), ok()},
        {"accepts_authority_form_for_connect",
         "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", ok()},
        {"accepts_ipv6_literal_host", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", ok()},
        {"accepts_extension_method", get_line("PURGE /cache HTTP/1.1"), ok()},
        {"accepts_obs_text_in_field_value", post("X-Name: caf\xc3\xa9\r\n"), ok()},
        {"accepts_tab_inside_field_value", post("X-A: a\tb\r\n"), ok()},
        {"accepts_empty_field_value", post("X-Empty:\r\n"), ok()},
        {"accepts_field_without_space_after_colon", post("X-A:b\r\n"), ok()},

        // Content-Length (RFC 9112 6.3).
        {"rejects_content_length_with_transfer_encoding",
         post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), rejected(400)},
        {"rejects_transfer_encoding_with_content_length",
         post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), rejected(400)},
        {"rejects_content_length_zero_with_chunked",
         post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), rejected(400)},
        {"rejects_differing_content_lengths", post("Content-Length: 5\r\nContent-Length: 6\r\n"),
         rejected(400)},
        {"rejects_differing_content_length_list", post("Content-Length: 5, 6\r\n"), rejected(400)},
        {"rejects_content_length_with_plus_sign", post("Content-Length: +5\r\n"), rejected(400)},
        {"rejects_negative_content_length", post("Content-Length: -5\r\n"), rejected(400)},
        {"rejects_hex_content_length", post("Content-Length: 0x5\r\n"), rejected(400)},
        {"rejects_content_length_with_inner_space", post("Content-Length: 5 5\r\n"), rejected(400)},
        {"rejects_empty_content_length", post("Content-Length:\r\n"), rejected(400)},
        {"rejects_content_length_list_with_empty_element", post("Content-Length: 5,\r\n"),
         rejected(400)},
        {"rejects_decimal_content_length", post("Content-Length: 5.0\r\n"), rejected(400)},
        {"rejects_overflowing_content_length", post("Content-Length: 18446744073709551616\r\n"),
         rejected(400)},
        {"rejects_content_length_space_before_colon", post("Content-Length : 5\r\n"),
         rejected(400)},

        // Transfer-Encoding (RFC 9112 6.1): one final chunked, nothing else.
        {"rejects_chunked_twice", post("Transfer-Encoding: chunked, chunked\r\n"), rejected(400)},
        {"rejects_chunked_twice_across_fields",
         post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), rejected(400)},
        {"rejects_chunked_not_last", post("Transfer-Encoding: chunked, gzip\r\n"), rejected(400)},
        {"rejects_chunked_then_identity_field",
         post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), rejected(400)},
        {"answers_501_to_gzip_then_chunked", post("Transfer-Encoding: gzip, chunked\r\n"),
         rejected(501)},
        {"answers_501_to_gzip", post("Transfer-Encoding: gzip\r\n"), rejected(501)},
        {"answers_501_to_identity", post("Transfer-Encoding: identity\r\n"), rejected(501)},
        {"answers_501_to_xchunked", post("Transfer-Encoding: xchunked\r\n"), rejected(501)},
        {"answers_501_to_chunked_prefix", post("Transfer-Encoding: chunke\r\n"), rejected(501)},
        {"rejects_transfer_encoding_space_before_colon", post("Transfer-Encoding : chunked\r\n"),
         rejected(400)},
        {"rejects_obs_folded_transfer_encoding", post("Transfer-Encoding:\r\n chunked\r\n"),
         rejected(400)},
        {"rejects_empty_transfer_encoding", post("Transfer-Encoding:\r\n"), rejected(400)},
        {"rejects_transfer_encoding_with_empty_element", post("Transfer-Encoding: , chunked\r\n"),
         rejected(400)},
        {"rejects_quoted_chunked", post("Transfer-Encoding: \"chunked\"\r\n"), rejected(400)},
        {"rejects_chunked_with_parameter", post("Transfer-Encoding: chunked;q=1\r\n"),
         rejected(400)},
        {"rejects_vertical_tab_before_chunked",
         post("Transfer-Encoding:\x0b"
              "chunked\r\n"),
         rejected(400)},
        {"rejects_transfer_encoding_in_http10",
         "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", rejected(400)},
        {"rejects_transfer_encoding_with_content_length_in_http10",
         "POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         rejected(400)},

        // Field lines (RFC 9112 5, RFC 9110 5.5).
        {"rejects_obs_fold", post("X-A: a\r\n b\r\n"), rejected(400)},
        {"rejects_obs_fold_with_tab", post("X-A: a\r\n\tb\r\n"), rejected(400)},
        {"rejects_nul_in_field_value", post("X-A: a\0b\r\n"s), rejected(400)},
        {"rejects_nul_in_field_name", post("X-\0A: b\r\n"s), rejected(400)},
        {"rejects_bare_cr_in_field_value", post("X-A: a\rb\r\n"), rejected(400)},
        {"rejects_cr_cr_lf", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", rejected(400)},
        {"rejects_cr_cr_lf_as_head_end", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", rejected(400)},
        {"rejects_bare_lf_after_field", "GET / HTTP/1.1\r\nHost: a\n\r\n", rejected(400)},
        {"rejects_bare_lf_after_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", rejected(400)},
        {"rejects_bare_lf_head_end", "GET / HTTP/1.1\r\nHost: a\r\n\n", rejected(400)},
        {"rejects_control_byte_in_field_value",
         post("X-A: a\x01"
              "b\r\n"),
         rejected(400)},
        {"rejects_del_in_field_value", post("X-A: a\x7f\r\n"), rejected(400)},
        {"rejects_space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", rejected(400)},
        {"rejects_tab_before_colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", rejected(400)},
        {"rejects_empty_field_name", post(": x\r\n"), rejected(400)},
        {"rejects_separator_in_field_name", post("X/Y: z\r\n"), rejected(400)},
        {"rejects_non_ascii_field_name", post("X-\xc3\xa9: z\r\n"), rejected(400)},
        {"rejects_field_line_without_colon", post("X-A b\r\n"), rejected(400)},

        // Request line (RFC 9112 3).
        {"rejects_invalid_method_character", get_line("G(T / HTTP/1.1"), rejected(400)},
        {"rejects_double_space_in_request_line", get_line("GET  / HTTP/1.1"), rejected(400)},
        {"rejects_double_space_before_version", get_line("GET /  HTTP/1.1"), rejected(400)},
        {"rejects_trailing_space_in_request_line", get_line("GET / HTTP/1.1 "), rejected(400)},
        {"rejects_leading_space_in_request_line", get_line(" GET / HTTP/1.1"), rejected(400)},
        {"rejects_tab_separator_in_request_line", get_line("GET\t/ HTTP/1.1"), rejected(400)},
        {"rejects_request_line_without_version", get_line("GET /"), rejected(400)},
        {"rejects_space_in_target", get_line("GET /a b HTTP/1.1"), rejected(400)},
        {"rejects_nul_in_target", get_line("GET /a\0b HTTP/1.1"s), rejected(400)},
        {"rejects_bare_cr_in_request_line", get_line("GET /\r HTTP/1.1"), rejected(400)},
        {"rejects_fragment_in_target", get_line("GET /a#b HTTP/1.1"), rejected(400)},
        {"rejects_non_ascii_target", get_line("GET /caf\xc3\xa9 HTTP/1.1"), rejected(400)},
        {"rejects_lowercase_version", get_line("GET / http/1.1"), rejected(400)},
        {"rejects_malformed_version", get_line("GET / HTTP/1.10"), rejected(400)},
        {"rejects_short_version", get_line("GET / HTTP/1"), rejected(400)},
        {"answers_505_to_http2", get_line("GET / HTTP/2.0"), rejected(505)},
        {"answers_505_to_http12", get_line("GET / HTTP/1.2"), rejected(505)},
        {"answers_505_to_http09", get_line("GET / HTTP/0.9"), rejected(505)},
        {"rejects_too_many_leading_empty_lines",
         "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", rejected(400)},
        {"rejects_leading_bare_lf", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", rejected(400)},
        {"rejects_leading_bare_cr", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", rejected(400)},

        // Host and target forms (RFC 9112 3.2, RFC 9110 7.2).
        {"rejects_missing_host_in_http11", "GET / HTTP/1.1\r\n\r\n", rejected(400)},
        {"rejects_duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", rejected(400)},
        {"rejects_duplicate_host_in_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
         rejected(400)},
        {"rejects_empty_host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", rejected(400)},
        {"rejects_host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", rejected(400)},
        {"rejects_host_with_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", rejected(400)},
        {"rejects_host_with_path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", rejected(400)},
        {"rejects_host_with_bad_port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", rejected(400)},
        {"rejects_unterminated_ipv6_host", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", rejected(400)},
        {"rejects_absolute_form_disagreeing_with_host",
         "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", rejected(400)},
        {"rejects_absolute_form_with_userinfo",
         "GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", rejected(400)},
        {"rejects_absolute_form_with_unknown_scheme",
         "GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", rejected(400)},
        {"rejects_absolute_form_without_host_in_http11", "GET http://a.example/ HTTP/1.1\r\n\r\n",
         rejected(400)},
        {"rejects_asterisk_form_outside_options", get_line("GET * HTTP/1.1"), rejected(400)},
        {"rejects_connect_with_origin_form", "CONNECT / HTTP/1.1\r\nHost: a.example\r\n\r\n",
         rejected(400)},
        {"rejects_connect_without_port", "CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
         rejected(400)},

        // Limits.
        {"answers_414_to_long_request_line",
         get_line("GET /" + std::string(9000, 'a') + " HTTP/1.1"), rejected(414)},
        {"answers_431_to_large_head", post("X-Big: " + std::string(70000, 'a') + "\r\n"),
         rejected(431)},
        {"answers_431_to_too_many_fields", post(many_fields), rejected(431)},
    };
}

class RequestConformance : public ::testing::TestWithParam<Row> {};

TEST_P(RequestConformance, Parses) {
    const Row& row = GetParam();
    RequestHead head;
    const ParseResult r = parse_request_head(row.raw, ParserLimits{}, head);
    if (row.expect.complete) {
        ASSERT_EQ(r.kind, ParseResult::Kind::complete) << r.error.status << " " << r.error.reason;
        EXPECT_EQ(r.consumed, row.raw.size());
        EXPECT_EQ(head.framing, row.expect.framing);
        EXPECT_EQ(head.content_length, row.expect.content_length);
    } else {
        ASSERT_EQ(r.kind, ParseResult::Kind::error);
        EXPECT_EQ(r.error.status, row.expect.status) << r.error.reason;
        EXPECT_FALSE(r.error.reason.empty());
    }
}

INSTANTIATE_TEST_SUITE_P(Rfc9112, RequestConformance, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& row) { return row.param.name; });

}  // namespace
}  // namespace usher::http::h1
