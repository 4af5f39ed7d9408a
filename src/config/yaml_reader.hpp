#pragma once
// Internal to config/ (only loader.cpp includes it): typed, error-collecting access to a yaml-cpp
// tree. Every accessor either returns a value or reports exactly one Diagnostic for the field and
// returns nullopt, so the loader can go on and find the next problem.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"

namespace usher::config::detail {

// A value in the tree plus what an error about it needs: its position and its field path.
struct Field {
    YAML::Node node;
    int line = 1;  // 1-based; for an empty value, the position of its key
    int column = 1;
    std::string path;  // "listeners[0].address"

    Field() = default;
    Field(YAML::Node n, int l, int c, std::string p)
        : node(std::move(n)), line(l), column(c), path(std::move(p)) {}
    Field(const Field&) = default;
    Field(Field&&) noexcept = default;

    // YAML::Node::operator= writes through to the node it refers to (it would edit the tree);
    // assigning a Field must only re-point it, hence reset().
    Field& operator=(const Field& other) {
        if (this != &other) {
            node.reset(other.node);
            line = other.line;
            column = other.column;
            path = other.path;
        }
        return *this;
    }
    Field& operator=(Field&& other) noexcept {
        node.reset(other.node);
        line = other.line;
        column = other.column;
        path = std::move(other.path);
        return *this;
    }
};

// The root of a document (an empty document counts as an empty mapping at 1:1).
Field root_field(const YAML::Node& root);

class Reader {
  public:
    Reader(std::string file, std::vector<Diagnostic>& errors)
        : file_(std::move(file)), errors_(errors) {}

    void error(const Field& at, std::string message);
    void error(int line, int column, std::string path, std::string message);

    // Checks that `f` is a mapping (an empty value counts as an empty one) whose keys are all in
    // `known`. Unknown keys (with a "did you mean" hint), duplicate and non-string keys are
    // reported. Returns false, after reporting, if `f` is not a mapping at all.
    bool mapping(const Field& f, const std::vector<std::string>& known);

    // The value under `key` in the mapping `f` (its first occurrence), if present.
    std::optional<Field> get(const Field& f, std::string_view key) const;
    // Like get(), but reports `missing required key "key"` at the mapping when absent.
    std::optional<Field> require(const Field& f, std::string_view key);

    // The items of a list (an empty value counts as an empty list).
    std::optional<std::vector<Field>> list(const Field& f);
    // The (key, value) entries of a mapping whose keys are names chosen by the user (cluster
    // names, header names). Duplicate keys are reported and skipped.
    std::optional<std::vector<std::pair<Field, Field>>> entries(const Field& f);

    std::optional<std::string> string(const Field& f);
    std::optional<std::vector<Field>> strings(const Field& f);  // a string or a list of strings
    std::optional<bool> boolean(const Field& f);
    std::optional<std::uint64_t> integer(const Field& f, std::uint64_t min, std::uint64_t max);
    std::optional<Duration> duration(const Field& f, bool allow_zero);
    std::optional<std::uint64_t> size(const Field& f, bool allow_zero);

    // One of a fixed set of words; the error lists them all.
    template <class E>
    std::optional<E> choice(const Field& f,
                            std::initializer_list<std::pair<std::string_view, E>> values) {
        const auto s = string(f);
        if (!s) {
            return std::nullopt;
        }
        std::string allowed;
        for (const auto& [word, value] : values) {
            if (word == *s) {
                return value;
            }
            allowed += (allowed.empty() ? "" : ", ") + std::string(word);
        }
        error(f, "unknown value \"" + *s + "\" (expected one of: " + allowed + ")");
        return std::nullopt;
    }

  private:
    std::string file_;
    std::vector<Diagnostic>& errors_;
};

}  // namespace usher::config::detail
