#pragma once
// JsonWriter: appends JSON to a string, with commas and string escaping handled. Enough for the
// admin API's documents (/status, errors, reload results); not a general JSON library.
//   JsonWriter w(out); w.begin_object(); w.key("pid"); w.number(12); w.end_object();
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace usher::admin {

class JsonWriter {
  public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(std::string_view k);
    void string(std::string_view v);
    void number(std::uint64_t v);
    void number(double v);  // up to 3 decimals, no exponent; NaN/inf become 0
    void boolean(bool v);
    void null();

  private:
    void separate();
    std::string& out_;
    std::vector<bool> first_;  // per open container: no value written yet
    bool after_key_ = false;
};

// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

// {"error": "<message>"}
std::string json_error(std::string_view message);

}  // namespace usher::admin
