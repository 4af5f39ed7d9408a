#pragma once
// IoBuffer: a fixed-capacity byte buffer with a readable region [begin, end) and free space after
// it. Reads land in `space()`, parsers look at `data()`, `consume()` drops what was handled and
// `compact()` moves the rest to the front. Storage is borrowed from a worker's BufferPool so an
// idle connection holds no buffer (DESIGN.md, principle 2).
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "core/limits.hpp"

namespace usher {

class BufferPool;

class IoBuffer {
  public:
    IoBuffer() = default;
    IoBuffer(std::unique_ptr<char[]> storage, std::size_t capacity) noexcept
        : storage_(std::move(storage)), capacity_(capacity) {}

    bool has_storage() const noexcept { return storage_ != nullptr; }
    std::string_view view() const noexcept { return {storage_.get() + begin_, end_ - begin_}; }
    const char* data() const noexcept { return storage_.get() + begin_; }
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    std::size_t capacity() const noexcept { return capacity_; }

    // Free space after the readable region (compacts first when that makes room).
    char* space() noexcept {
        if (begin_ > 0 && capacity_ - end_ < capacity_ / 4) {
            compact();
        }
        return storage_.get() + end_;
    }
    std::size_t space_size() const noexcept { return capacity_ - end_; }
    bool full() const noexcept { return begin_ == 0 && end_ == capacity_; }

    void commit(std::size_t n) noexcept { end_ += n; }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) {
            begin_ = end_ = 0;
        }
    }
    void compact() noexcept {
        if (begin_ > 0) {
            std::memmove(storage_.get(), storage_.get() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
    }
    void clear() noexcept { begin_ = end_ = 0; }

    std::unique_ptr<char[]> release_storage() noexcept {
        clear();
        capacity_ = 0;
        return std::move(storage_);
    }

  private:
    std::unique_ptr<char[]> storage_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

// A per-worker free list of equally sized buffers. Not thread-safe: one per worker.
class BufferPool {
  public:
    explicit BufferPool(std::size_t buffer_size, std::size_t max_free = 1024)
        : buffer_size_(buffer_size), max_free_(max_free) {}

    std::size_t buffer_size() const noexcept { return buffer_size_; }

    // Gives `buf` storage if it has none.
    void acquire(IoBuffer& buf) {
        if (buf.has_storage()) {
            return;
        }
        std::unique_ptr<char[]> storage;
        if (!free_.empty()) {
            storage = std::move(free_.back());
            free_.pop_back();
        } else {
            storage = std::make_unique_for_overwrite<char[]>(buffer_size_);
        }
        buf = IoBuffer(std::move(storage), buffer_size_);
    }
    // Takes the storage back; the buffer must hold no unread bytes the caller still needs.
    void release(IoBuffer& buf) {
        if (!buf.has_storage()) {
            return;
        }
        bool standard = buf.capacity() == buffer_size_;
        auto storage = buf.release_storage();
        if (standard && free_.size() < max_free_) {
            free_.push_back(std::move(storage));
        }
    }
    // Moves `buf`'s unread bytes into a larger buffer of `capacity` (a rare, oversized head).
    void grow(IoBuffer& buf, std::size_t capacity) {
        IoBuffer bigger(std::make_unique_for_overwrite<char[]>(capacity), capacity);
        std::memcpy(bigger.space(), buf.data(), buf.size());
        bigger.commit(buf.size());
        release(buf);
        buf = std::move(bigger);
    }

  private:
    std::size_t buffer_size_;
    std::size_t max_free_;
    std::vector<std::unique_ptr<char[]>> free_;
};

}  // namespace usher
