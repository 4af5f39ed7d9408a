#pragma once
// HeaderMap: the protocol-neutral list of header fields of one message head.
//
// Fields are string_views. Those filled in by a parser point into the connection's read buffer and
// are valid until that buffer is compacted (the proxy serializes the upstream head before that).
// Fields added by filters or the proxy are copied into the map's own arena with `intern()`.
// `clear()` keeps capacity, so a connection that reuses its HeaderMap allocates nothing in steady
// state. Lookups are case-insensitive and allocation-free; order and duplicates are preserved.
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace usher::http {

struct HeaderField {
    std::string_view name;
    std::string_view value;
};

// ASCII case-insensitive equality for header names and tokens. Inline: most calls compare names
// of different lengths (hop-by-hop checks, lookups) and end at the size test.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    const auto lower = [](unsigned char c) noexcept {
        return static_cast<unsigned char>(static_cast<unsigned>(c - 'A') < 26u ? c + ('a' - 'A')
                                                                               : c);
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

class HeaderMap {
  public:
    HeaderMap() = default;
    HeaderMap(const HeaderMap&) = delete;
    HeaderMap& operator=(const HeaderMap&) = delete;
    HeaderMap(HeaderMap&&) noexcept = default;
    HeaderMap& operator=(HeaderMap&&) noexcept = default;

    // Appends a field; views must outlive the map's use (see intern()).
    void add(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }
    // Appends a field whose bytes are copied into the map's arena.
    void add_copy(std::string_view name, std::string_view value);
    // Removes every field with this name; returns how many were removed.
    std::size_t remove(std::string_view name);
    // Replaces every field with this name by one field (value copied).
    void set_copy(std::string_view name, std::string_view value);

    // First field with this name, or nullptr when absent.
    const HeaderField* find(std::string_view name) const noexcept;
    std::size_t count(std::string_view name) const noexcept;
    bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }

    // Copies bytes into the arena; the view stays valid until clear().
    std::string_view intern(std::string_view bytes);

    void clear() noexcept;
    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    auto begin() const noexcept { return fields_.begin(); }
    auto end() const noexcept { return fields_.end(); }
    std::vector<HeaderField>& fields() noexcept { return fields_; }
    const std::vector<HeaderField>& fields() const noexcept { return fields_; }

  private:
    std::vector<HeaderField> fields_;
    // Arena: fixed-size blocks that are kept across clear() so steady state allocates nothing.
    std::vector<std::unique_ptr<char[]>> blocks_;
    std::vector<std::unique_ptr<char[]>> big_;  // values larger than a block, freed on clear()
    std::size_t block_index_ = 0;
    std::size_t block_used_ = 0;
};

}  // namespace usher::http
