#include "config/yaml_reader.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "config/syntax.hpp"
#include "core/units.hpp"

namespace usher::config::detail {
namespace {

std::string join(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// A child field; an empty value (or one without a position) is placed at `fallback` (its key).
Field make_field(const YAML::Node& node, int fallback_line, int fallback_column, std::string path) {
    Field f{node, fallback_line, fallback_column, std::move(path)};
    const YAML::Mark m = node.Mark();
    if (!node.IsNull() && m.line >= 0 && m.column >= 0) {
        f.line = m.line + 1;
        f.column = m.column + 1;
    }
    return f;
}

Field key_field(const YAML::Node& key, const Field& parent, std::string path) {
    return make_field(key, parent.line, parent.column, std::move(path));
}

std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar: {
            std::string s = node.Scalar();
            if (s.size() > 40) {
                s = s.substr(0, 37) + "...";
            }
            return "\"" + s + "\"";
        }
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            break;
    }
    return "nothing";
}

}  // namespace

Field root_field(const YAML::Node& root) {
    return make_field(root, 1, 1, "");
}

void Reader::error(const Field& at, std::string message) {
    error(at.line, at.column, at.path, std::move(message));
}

void Reader::error(int line, int column, std::string path, std::string message) {
    errors_.push_back(Diagnostic{file_, line, column, std::move(path), std::move(message)});
}

bool Reader::mapping(const Field& f, const std::vector<std::string>& known) {
    if (f.node.IsNull()) {
        return true;
    }
    if (!f.node.IsMap()) {
        error(f, "expected a mapping, got " + describe(f.node));
        return false;
    }
    std::map<std::string, int, std::less<>> seen;  // key -> line of first occurrence
    for (const auto& kv : f.node) {
        const Field key = key_field(kv.first, f, f.path);
        if (!kv.first.IsScalar()) {
            error(key, "keys must be plain words, got " + describe(kv.first));
            continue;
        }
        const std::string& name = kv.first.Scalar();
        const Field named = key_field(kv.first, f, join(f.path, name));
        if (const auto [it, inserted] = seen.emplace(name, named.line); !inserted) {
            error(named, "duplicate key \"" + name + "\" (first set on line " +
                             std::to_string(it->second) + ")");
            continue;
        }
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string message = "unknown key \"" + name + "\"";
            if (const auto hint = closest_match(name, known)) {
                message += " (did you mean '" + *hint + "'?)";
            } else {
                std::string all;
                for (const std::string& k : known) {
                    all += (all.empty() ? "" : ", ") + k;
                }
                message += " (expected one of: " + all + ")";
            }
            error(named, std::move(message));
        }
    }
    return true;
}

std::optional<Field> Reader::get(const Field& f, std::string_view key) const {
    if (!f.node.IsMap()) {
        return std::nullopt;
    }
    for (const auto& kv : f.node) {
        if (kv.first.IsScalar() && kv.first.Scalar() == key) {
            const Field k = key_field(kv.first, f, "");
            return make_field(kv.second, k.line, k.column, join(f.path, key));
        }
    }
    return std::nullopt;
}

std::optional<Field> Reader::require(const Field& f, std::string_view key) {
    auto found = get(f, key);
    if (!found) {
        error(f, "missing required key \"" + std::string(key) + "\"");
    }
    return found;
}

std::optional<std::vector<Field>> Reader::list(const Field& f) {
    std::vector<Field> out;
    if (f.node.IsNull()) {
        return out;
    }
    if (!f.node.IsSequence()) {
        error(f, "expected a list, got " + describe(f.node));
        return std::nullopt;
    }
    std::size_t i = 0;
    for (const auto& item : f.node) {
        out.push_back(make_field(item, f.line, f.column, f.path + "[" + std::to_string(i++) + "]"));
    }
    return out;
}

std::optional<std::vector<std::pair<Field, Field>>> Reader::entries(const Field& f) {
    std::vector<std::pair<Field, Field>> out;
    if (f.node.IsNull()) {
        return out;
    }
    if (!f.node.IsMap()) {
        error(f, "expected a mapping, got " + describe(f.node));
        return std::nullopt;
    }
    std::map<std::string, int, std::less<>> seen;
    for (const auto& kv : f.node) {
        if (!kv.first.IsScalar()) {
            error(key_field(kv.first, f, f.path), "keys must be names, got " + describe(kv.first));
            continue;
        }
        const std::string& name = kv.first.Scalar();
        Field key = key_field(kv.first, f, join(f.path, name));
        if (const auto [it, inserted] = seen.emplace(name, key.line); !inserted) {
            error(key, "duplicate key \"" + name + "\" (first set on line " +
                           std::to_string(it->second) + ")");
            continue;
        }
        Field value = make_field(kv.second, key.line, key.column, key.path);
        out.emplace_back(std::move(key), std::move(value));
    }
    return out;
}

std::optional<std::string> Reader::string(const Field& f) {
    if (!f.node.IsScalar()) {
        error(f, "expected a string, got " + describe(f.node));
        return std::nullopt;
    }
    return f.node.Scalar();
}

std::optional<std::vector<Field>> Reader::strings(const Field& f) {
    if (f.node.IsScalar()) {
        return std::vector<Field>{f};
    }
    if (!f.node.IsSequence()) {
        error(f, "expected a string or a list of strings, got " + describe(f.node));
        return std::nullopt;
    }
    auto items = list(f);
    bool ok = true;
    for (const Field& item : *items) {
        if (!item.node.IsScalar()) {
            error(item, "expected a list of strings, got " + describe(item.node) + " in it");
            ok = false;
        }
    }
    return ok ? items : std::nullopt;
}

std::optional<bool> Reader::boolean(const Field& f) {
    if (f.node.IsScalar()) {
        const std::string& s = f.node.Scalar();
        if (s == "true" || s == "True" || s == "TRUE") {
            return true;
        }
        if (s == "false" || s == "False" || s == "FALSE") {
            return false;
        }
    }
    error(f, "expected true or false, got " + describe(f.node));
    return std::nullopt;
}

std::optional<std::uint64_t> Reader::integer(const Field& f, std::uint64_t min, std::uint64_t max) {
    const std::string s = f.node.IsScalar() ? f.node.Scalar() : std::string();
    if (s.empty() || s.size() > 19 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const bool negative = s.size() > 1 && s[0] == '-';
        error(f, negative ? "must not be negative, got " + describe(f.node)
                          : "expected a whole number, got " + describe(f.node));
        return std::nullopt;
    }
    const std::uint64_t v = std::stoull(s);
    if (v < min || v > max) {
        if (max == std::numeric_limits<std::uint64_t>::max()) {
            error(f, "must be at least " + std::to_string(min) + ", got " + s);
        } else {
            error(f,
                  s + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
        }
        return std::nullopt;
    }
    return v;
}

std::optional<Duration> Reader::duration(const Field& f, bool allow_zero) {
    if (!f.node.IsScalar()) {
        error(f, "expected a duration (e.g. 250ms, 30s, 5m), got " + describe(f.node));
        return std::nullopt;
    }
    std::string why;
    const auto d = parse_duration(f.node.Scalar(), &why);
    if (!d) {
        error(f, why);
        return std::nullopt;
    }
    if (!allow_zero && d->count() == 0) {
        error(f, "must be greater than 0");
        return std::nullopt;
    }
    return d;
}

std::optional<std::uint64_t> Reader::size(const Field& f, bool allow_zero) {
    if (!f.node.IsScalar()) {
        error(f, "expected a size (e.g. 512, 16KiB, 10MiB), got " + describe(f.node));
        return std::nullopt;
    }
    std::string why;
    const auto n = parse_size(f.node.Scalar(), &why);
    if (!n) {
        error(f, why);
        return std::nullopt;
    }
    if (!allow_zero && *n == 0) {
        error(f, "must be greater than 0");
        return std::nullopt;
    }
    return n;
}

}  // namespace usher::config::detail
