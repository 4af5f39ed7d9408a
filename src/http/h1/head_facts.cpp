#include "http/h1/head_facts.hpp"

#include <limits>

namespace usher::http::h1 {

using namespace syntax;

namespace {

// Calls `fn(element)` for each OWS-trimmed element of a comma-separated list (empty ones too).
template <typename Fn>
void for_each_element(std::string_view list, Fn&& fn) {
    for (;;) {
        const std::size_t comma = list.find(',');
        fn(trim_ows(list.substr(0, comma)));
        if (comma == std::string_view::npos) {
            return;
        }
        list.remove_prefix(comma + 1);
    }
}

// Parses a non-empty run of decimal digits; false on any other byte or on uint64 overflow.
bool parse_decimal(std::string_view digits, std::uint64_t& out) noexcept {
    if (digits.empty()) {
        return false;
    }
    std::uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return false;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    out = v;
    return true;
}

// Content-Length (RFC 9112 6.3 item 5): a list of identical values is collapsed, anything else
// that is not exactly one decimal number is an error.
std::string_view note_content_length(std::string_view value, HeadFacts& f) {
    std::string_view error;
    for_each_element(value, [&](std::string_view element) {
        std::uint64_t n = 0;
        if (!error.empty()) {
            return;
        }
        if (!parse_decimal(element, n)) {
            error = "invalid Content-Length";
        } else if (!f.has_content_length) {
            f.has_content_length = true;
            f.content_length = n;
            f.content_length_digits = element;
        } else if (n != f.content_length) {
            error = "conflicting Content-Length values";
        } else {
            f.collapse_content_length = true;
        }
    });
    return error;
}

// Transfer-Encoding (RFC 9112 6.1): only a single, final `chunked` is supported.
void note_transfer_encoding(std::string_view value, HeadFacts& f) {
    f.has_transfer_encoding = true;
    for_each_element(value, [&](std::string_view coding) {
        if (!f.transfer_encoding_error.empty()) {
            return;
        }
        if (coding.empty() || !all_of(coding, kToken)) {
            f.transfer_encoding_error = "malformed Transfer-Encoding";
        } else if (f.chunked_seen) {
            f.transfer_encoding_error = lower_equals(coding, "chunked")
                                            ? "chunked applied twice"
                                            : "chunked is not the final coding";
        } else if (lower_equals(coding, "chunked")) {
            f.chunked_seen = true;
        } else {
            f.unknown_coding = true;
        }
    });
}

void note_connection(std::string_view value, HeadFacts& f) {
    for_each_element(value, [&](std::string_view token) {
        f.close = f.close || lower_equals(token, "close");
        f.keep_alive = f.keep_alive || lower_equals(token, "keep-alive");
        f.connection_upgrade = f.connection_upgrade || lower_equals(token, "upgrade");
    });
}

}  // namespace

// The switch on the name length leaves one compare for most fields.
std::string_view note_field(const syntax::FieldLine& field, HeadFacts& f) {
    switch (field.name.size()) {
        case 4:
            if (lower_equals(field.name, "host")) {
                ++f.host_count;
                f.host = field.value;
            }
            break;
        case 6:
            if (lower_equals(field.name, "expect")) {
                f.expect_continue = f.expect_continue || lower_equals(field.value, "100-continue");
            }
            break;
        case 7:
            if (lower_equals(field.name, "upgrade")) {
                f.has_upgrade = true;
            }
            break;
        case 10:
            if (lower_equals(field.name, "connection")) {
                note_connection(field.value, f);
            }
            break;
        case 14:
            if (lower_equals(field.name, "content-length")) {
                return note_content_length(field.value, f);
            }
            break;
        case 17:
            if (lower_equals(field.name, "transfer-encoding")) {
                note_transfer_encoding(field.value, f);
            }
            break;
        default:
            break;
    }
    return {};
}

void collapse_content_length(HeaderMap& headers, const HeadFacts& f) {
    if (!f.collapse_content_length) {
        return;
    }
    // Stable in-place compaction: keep the first Content-Length (rewritten), drop the others.
    auto& fields = headers.fields();
    bool kept = false;
    std::size_t out = 0;
    for (std::size_t in = 0; in < fields.size(); ++in) {
        HeaderField field = fields[in];
        if (field.name.size() == 14 && lower_equals(field.name, "content-length")) {
            if (kept) {
                continue;
            }
            kept = true;
            field.value = f.content_length_digits;
        }
        fields[out++] = field;
    }
    fields.resize(out);
}

}  // namespace usher::http::h1
