#include "admin/json_writer.hpp"

#include <cmath>
#include <cstdio>

#include "core/text.hpp"

namespace usher::admin {

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default:
                if (u < 0x20 || u == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", u);
                    out.append(buf);
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

std::string json_error(std::string_view message) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("error");
    w.string(message);
    w.end_object();
    out.push_back('\n');
    return out;
}

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) {
            out_.append(", ");
        }
        first_.back() = false;
    }
}

void JsonWriter::begin_object() {
    separate();
    out_.push_back('{');
    first_.push_back(true);
}

void JsonWriter::end_object() {
    first_.pop_back();
    out_.push_back('}');
}

void JsonWriter::begin_array() {
    separate();
    out_.push_back('[');
    first_.push_back(true);
}

void JsonWriter::end_array() {
    first_.pop_back();
    out_.push_back(']');
}

void JsonWriter::key(std::string_view k) {
    separate();
    append_json_string(out_, k);
    out_.append(": ");
    after_key_ = true;
}

void JsonWriter::string(std::string_view v) {
    separate();
    append_json_string(out_, v);
}

void JsonWriter::number(std::uint64_t v) {
    separate();
    append_decimal(out_, v);
}

void JsonWriter::number(double v) {
    separate();
    if (!std::isfinite(v)) {
        v = 0;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    out_.append(buf);
}

void JsonWriter::boolean(bool v) {
    separate();
    out_.append(v ? "true" : "false");
}

void JsonWriter::null() {
    separate();
    out_.append("null");
}

}  // namespace usher::admin
