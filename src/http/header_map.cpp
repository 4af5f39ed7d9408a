#include "http/header_map.hpp"

#include <algorithm>
#include <cstring>

namespace usher::http {
namespace {

// Arena block size: a typical head's added fields fit in one block.
constexpr std::size_t kBlockSize = 4 * 1024;

}  // namespace

void HeaderMap::add_copy(std::string_view name, std::string_view value) {
    std::string_view n = intern(name);
    std::string_view v = intern(value);
    fields_.push_back({n, v});
}

std::size_t HeaderMap::remove(std::string_view name) {
    const auto it = std::remove_if(fields_.begin(), fields_.end(),
                                   [name](const HeaderField& f) { return iequals(f.name, name); });
    const auto removed = static_cast<std::size_t>(fields_.end() - it);
    fields_.erase(it, fields_.end());
    return removed;
}

void HeaderMap::set_copy(std::string_view name, std::string_view value) {
    // Copy first: `name`/`value` may point into fields of this map that are about to be removed.
    const HeaderField replacement{intern(name), intern(value)};
    auto first = std::find_if(fields_.begin(), fields_.end(),
                              [name](const HeaderField& f) { return iequals(f.name, name); });
    if (first == fields_.end()) {
        fields_.push_back(replacement);
        return;
    }
    *first = replacement;
    const auto rest = std::remove_if(std::next(first), fields_.end(), [name](const HeaderField& f) {
        return iequals(f.name, name);
    });
    fields_.erase(rest, fields_.end());
}

const HeaderField* HeaderMap::find(std::string_view name) const noexcept {
    for (const HeaderField& f : fields_) {
        if (iequals(f.name, name)) {
            return &f;
        }
    }
    return nullptr;
}

std::size_t HeaderMap::count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const HeaderField& f : fields_) {
        n += iequals(f.name, name) ? 1U : 0U;
    }
    return n;
}

std::string_view HeaderMap::intern(std::string_view bytes) {
    if (bytes.empty()) {
        return {};
    }
    char* dst = nullptr;
    if (bytes.size() > kBlockSize) {
        big_.push_back(std::make_unique_for_overwrite<char[]>(bytes.size()));
        dst = big_.back().get();
    } else {
        if (blocks_.empty() || block_used_ + bytes.size() > kBlockSize) {
            if (!blocks_.empty()) {
                ++block_index_;
                block_used_ = 0;
            }
            if (block_index_ == blocks_.size()) {
                blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlockSize));
            }
        }
        dst = blocks_[block_index_].get() + block_used_;
        block_used_ += bytes.size();
    }
    std::memcpy(dst, bytes.data(), bytes.size());
    return {dst, bytes.size()};
}

void HeaderMap::clear() noexcept {
    fields_.clear();
    big_.clear();
    block_index_ = 0;
    block_used_ = 0;
}

}  // namespace usher::http
