#include "h2_frames.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "harness.hpp"

namespace usher::test::h2 {

namespace {

using Clock = std::chrono::steady_clock;

void put32(std::string& out, std::uint32_t v) {
    out.push_back(static_cast<char>((v >> 24) & 0xff));
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

std::uint32_t get32(std::string_view s, std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(s[at])) << 24 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(s[at + 1])) << 16 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(s[at + 2])) << 8 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(s[at + 3]));
}

std::uint8_t byte_at(std::string_view s, std::size_t at) {
    return static_cast<std::uint8_t>(s[at]);
}

// RFC 7541 5.1, decoding. Advances `at`; nullopt when the block ends too early or overflows.
std::optional<std::uint32_t> read_integer(std::string_view block, std::size_t& at,
                                          int prefix_bits) {
    if (at >= block.size()) {
        return std::nullopt;
    }
    const std::uint32_t max_prefix = (1u << prefix_bits) - 1;
    std::uint32_t value = byte_at(block, at++) & max_prefix;
    if (value < max_prefix) {
        return value;
    }
    for (int shift = 0; shift <= 28; shift += 7) {
        if (at >= block.size()) {
            return std::nullopt;
        }
        const std::uint8_t b = byte_at(block, at++);
        value += static_cast<std::uint32_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return value;
        }
    }
    return std::nullopt;
}

// Decodes Huffman-coded digits (RFC 7541 Appendix B: '0'-'2' are 5-bit codes 0-2, '3'-'9' are
// 6-bit codes 0x19-0x1f), which is all a :status value holds. nullopt for any other symbol.
std::optional<std::string> huffman_digits(std::string_view coded) {
    std::string out;
    const std::size_t total = coded.size() * 8;
    std::size_t pos = 0;
    const auto bit = [&](std::size_t i) {
        return (static_cast<unsigned>(byte_at(coded, i / 8)) >> (7 - i % 8)) & 1u;
    };
    while (pos < total) {
        const std::size_t left = total - pos;
        if (left < 8) {  // padding: the most significant bits of EOS, all ones
            bool ones = true;
            for (std::size_t i = pos; i < total; ++i) {
                ones = ones && bit(i) == 1;
            }
            if (ones) {
                break;
            }
        }
        if (left < 5) {
            return std::nullopt;
        }
        std::uint32_t code = 0;
        for (int i = 0; i < 5; ++i) {
            code = code << 1 | bit(pos++);
        }
        if (code <= 2) {
            out.push_back(static_cast<char>('0' + code));
            continue;
        }
        if (pos >= total) {
            return std::nullopt;
        }
        code = code << 1 | bit(pos++);
        if (code < 0x19 || code > 0x1f) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>('3' + (code - 0x19)));
    }
    return out;
}

}  // namespace

// ---- writers ---------------------------------------------------------------------------------

std::string frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id,
                  std::string_view payload) {
    std::string out;
    out.reserve(9 + payload.size());
    const auto n = static_cast<std::uint32_t>(payload.size());
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(type));
    out.push_back(static_cast<char>(flags));
    put32(out, stream_id & 0x7fffffffu);
    out.append(payload);
    return out;
}

std::string settings_frame(std::initializer_list<std::pair<Setting, std::uint32_t>> values) {
    std::string payload;
    for (const auto& [id, value] : values) {
        const auto raw = static_cast<std::uint16_t>(id);
        payload.push_back(static_cast<char>(raw >> 8));
        payload.push_back(static_cast<char>(raw & 0xff));
        put32(payload, value);
    }
    return frame(FrameType::settings, 0, 0, payload);
}

std::string settings_ack() {
    return frame(FrameType::settings, kAck, 0, {});
}

std::string ping_frame(std::uint64_t opaque, bool ack) {
    std::string payload;
    put32(payload, static_cast<std::uint32_t>(opaque >> 32));
    put32(payload, static_cast<std::uint32_t>(opaque & 0xffffffffu));
    return frame(FrameType::ping, ack ? kAck : 0, 0, payload);
}

std::string window_update_frame(std::uint32_t stream_id, std::uint32_t increment) {
    std::string payload;
    put32(payload, increment & 0x7fffffffu);
    return frame(FrameType::window_update, 0, stream_id, payload);
}

std::string rst_stream_frame(std::uint32_t stream_id, std::uint32_t code) {
    std::string payload;
    put32(payload, code);
    return frame(FrameType::rst_stream, 0, stream_id, payload);
}

std::string priority_frame(std::uint32_t stream_id, std::uint32_t depends_on, std::uint8_t weight) {
    std::string payload;
    put32(payload, depends_on & 0x7fffffffu);
    payload.push_back(static_cast<char>(weight));
    return frame(FrameType::priority, 0, stream_id, payload);
}

std::string data_frame(std::uint32_t stream_id, std::string_view data, bool end_stream) {
    return frame(FrameType::data, end_stream ? kEndStream : 0, stream_id, data);
}

std::string headers_frame(std::uint32_t stream_id, std::string_view block, bool end_stream,
                          bool end_headers) {
    const auto flags =
        static_cast<std::uint8_t>((end_stream ? kEndStream : 0) | (end_headers ? kEndHeaders : 0));
    return frame(FrameType::headers, flags, stream_id, block);
}

std::string continuation_frame(std::uint32_t stream_id, std::string_view block, bool end_headers) {
    return frame(FrameType::continuation, end_headers ? kEndHeaders : 0, stream_id, block);
}

// ---- HPACK -----------------------------------------------------------------------------------

void hpack_integer(std::string& out, std::uint8_t first, int prefix_bits, std::uint32_t value) {
    const std::uint32_t max_prefix = (1u << prefix_bits) - 1;
    if (value < max_prefix) {
        out.push_back(static_cast<char>(first | value));
        return;
    }
    out.push_back(static_cast<char>(first | max_prefix));
    value -= max_prefix;
    while (value >= 128) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void HpackBlock::string_literal(std::string_view s) {
    hpack_integer(bytes_, 0x00, 7, static_cast<std::uint32_t>(s.size()));  // H = 0: raw octets
    bytes_.append(s);
}

HpackBlock& HpackBlock::literal(std::string_view name, std::string_view value) {
    bytes_.push_back('\0');  // 0000 0000: without indexing, new name
    string_literal(name);
    string_literal(value);
    return *this;
}

HpackBlock& HpackBlock::literal_indexed(std::string_view name, std::string_view value) {
    bytes_.push_back(static_cast<char>(0x40));  // 01 000000: incremental indexing, new name
    string_literal(name);
    string_literal(value);
    return *this;
}

HpackBlock& HpackBlock::indexed(std::uint32_t index) {
    hpack_integer(bytes_, 0x80, 7, index);
    return *this;
}

HpackBlock request_block(std::string_view method, std::string_view path,
                         std::vector<std::pair<std::string, std::string>> extra) {
    HpackBlock b;
    b.literal(":method", method)
        .literal(":scheme", "http")
        .literal(":path", path)
        .literal(":authority", "usher.test");
    for (const auto& [name, value] : extra) {
        b.literal(name, value);
    }
    return b;
}

// ---- reader ----------------------------------------------------------------------------------

std::optional<Frame> FrameReader::next() {
    const std::string_view rest = std::string_view{buffer_}.substr(pos_);
    if (rest.size() >= 9) {
        const std::size_t len = static_cast<std::size_t>(byte_at(rest, 0)) << 16 |
                                static_cast<std::size_t>(byte_at(rest, 1)) << 8 |
                                static_cast<std::size_t>(byte_at(rest, 2));
        if (rest.size() >= 9 + len) {
            Frame f;
            f.type = byte_at(rest, 3);
            f.flags = byte_at(rest, 4);
            f.stream_id = get32(rest, 5) & 0x7fffffffu;
            f.payload = std::string(rest.substr(9, len));
            pos_ += 9 + len;
            return f;
        }
    }
    buffer_.erase(0, pos_);
    pos_ = 0;
    return std::nullopt;
}

std::optional<Goaway> parse_goaway(const Frame& f) {
    if (!f.is(FrameType::goaway) || f.payload.size() < 8) {
        return std::nullopt;
    }
    return Goaway{get32(f.payload, 0) & 0x7fffffffu, get32(f.payload, 4), f.payload.substr(8)};
}

std::optional<std::uint32_t> parse_rst_stream(const Frame& f) {
    if (!f.is(FrameType::rst_stream) || f.payload.size() != 4) {
        return std::nullopt;
    }
    return get32(f.payload, 0);
}

std::optional<int> response_status(const Frame& headers) {
    if (!headers.is(FrameType::headers)) {
        return std::nullopt;
    }
    std::string_view block = headers.payload;
    std::size_t pad = 0;
    if ((headers.flags & kPadded) != 0) {
        if (block.empty()) {
            return std::nullopt;
        }
        pad = byte_at(block, 0);
        block.remove_prefix(1);
    }
    if ((headers.flags & kPriorityFlag) != 0) {
        if (block.size() < 5) {
            return std::nullopt;
        }
        block.remove_prefix(5);
    }
    if (pad > block.size()) {
        return std::nullopt;
    }
    block.remove_suffix(pad);

    std::size_t at = 0;
    while (at < block.size() && (byte_at(block, at) & 0xe0) == 0x20) {  // table size update
        if (!read_integer(block, at, 5)) {
            return std::nullopt;
        }
    }
    if (at >= block.size()) {
        return std::nullopt;
    }
    const std::uint8_t b = byte_at(block, at);
    static constexpr int kStaticStatus[] = {200, 204, 206, 304, 400, 404, 500};  // entries 8-14
    std::optional<std::uint32_t> name_index;
    if ((b & 0x80) != 0) {
        const auto index = read_integer(block, at, 7);
        if (!index || *index < 8 || *index > 14) {
            return std::nullopt;
        }
        return kStaticStatus[*index - 8];
    }
    if ((b & 0xc0) == 0x40) {
        name_index = read_integer(block, at, 6);
    } else if ((b & 0xe0) == 0x00) {  // 0000 (without indexing) or 0001 (never indexed)
        name_index = read_integer(block, at, 4);
    }
    if (!name_index || *name_index < 8 || *name_index > 14 || at >= block.size()) {
        return std::nullopt;
    }
    const bool huffman = (byte_at(block, at) & 0x80) != 0;
    const auto len = read_integer(block, at, 7);
    if (!len || at + *len > block.size()) {
        return std::nullopt;
    }
    std::optional<std::string> digits = std::string(block.substr(at, *len));
    if (huffman) {
        digits = huffman_digits(block.substr(at, *len));
    }
    if (!digits || digits->size() != 3) {
        return std::nullopt;
    }
    for (char c : *digits) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
    }
    return std::stoi(*digits);
}

// ---- connection ------------------------------------------------------------------------------

Connection::Connection(int port, std::initializer_list<std::pair<Setting, std::uint32_t>> settings)
    : fd_(connect_to(port)) {
    if (fd_ < 0) {
        return;
    }
    timeval tv{};
    tv.tv_sec = 5;
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (!send(std::string(kPreface) + settings_frame(settings))) {
        ::close(fd_);
        fd_ = -1;
    }
}

Connection::~Connection() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool Connection::send(std::string_view bytes) {
    // SO_SNDTIMEO bounds each send(): send_all fails on a timeout as on EPIPE or ECONNRESET.
    return fd_ >= 0 && send_all(fd_, bytes);
}

bool Connection::poll(std::chrono::milliseconds timeout) {
    if (fd_ < 0 || closed_) {
        return false;
    }
    const auto deadline = Clock::now() + timeout;
    bool waited = false;
    char buf[65536];
    for (;;) {
        int wait_ms = 0;
        if (!waited) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
        }
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, wait_ms) <= 0) {
            break;
        }
        waited = true;
        const auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n <= 0) {
            closed_ = true;
            break;
        }
        bytes_received_ += static_cast<std::size_t>(n);
        reader_.append({buf, static_cast<std::size_t>(n)});
        while (auto f = reader_.next()) {
            ++frames_received_;
            if (f->is(FrameType::goaway) && !goaway_) {
                goaway_ = parse_goaway(*f);
            }
            if (f->is(FrameType::settings) && (f->flags & kAck) == 0) {
                send(settings_ack());
            }
            inbox_.push_back(std::move(*f));
        }
    }
    return !closed_;
}

std::optional<Frame> Connection::next(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (inbox_.empty() && !closed_) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) {
            break;
        }
        poll(left);
    }
    if (inbox_.empty()) {
        return std::nullopt;
    }
    Frame f = std::move(inbox_.front());
    inbox_.pop_front();
    return f;
}

void Connection::read_until_goaway_or_close(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!goaway_ && !closed_) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) {
            break;
        }
        poll(left);
        inbox_.clear();
    }
}

std::optional<Response> get(int port, std::string_view path, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    Connection c(port);
    if (!c.connected() || !c.send(headers_frame(1, request_block("GET", path).bytes(), true))) {
        return std::nullopt;
    }
    Response r;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) {
            return std::nullopt;
        }
        auto f = c.next(left);
        if (!f) {
            return std::nullopt;
        }
        if (f->is(FrameType::goaway)) {
            return std::nullopt;
        }
        if (f->stream_id != 1) {
            continue;
        }
        if (f->is(FrameType::rst_stream)) {
            return std::nullopt;
        }
        if (f->is(FrameType::headers) && r.status == 0) {
            const auto status = response_status(*f);
            if (!status) {
                return std::nullopt;
            }
            r.status = *status;
        } else if (f->is(FrameType::data)) {
            r.body_bytes += f->payload.size();
        }
        if ((f->is(FrameType::headers) || f->is(FrameType::data)) && (f->flags & kEndStream) != 0) {
            return r;
        }
    }
}

}  // namespace usher::test::h2
