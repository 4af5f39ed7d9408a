#pragma once
// A tiny HTTP/2 toolkit for attack tests (h2_attack_test.cpp): frame writers, a literal-only HPACK
// encoder, a frame reader, and a raw-socket h2c connection. It is deliberately not a conformant
// client: it writes exactly the bytes a test asks for, hostile ones included, and decodes only
// what the tests assert on (frame headers, GOAWAY, RST_STREAM, a response's :status).
#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace usher::test::h2 {

using namespace std::chrono_literals;

// RFC 9113 section 3.4.
inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class FrameType : std::uint8_t {
    data = 0x0,
    headers = 0x1,
    priority = 0x2,
    rst_stream = 0x3,
    settings = 0x4,
    push_promise = 0x5,
    ping = 0x6,
    goaway = 0x7,
    window_update = 0x8,
    continuation = 0x9,
};

// Frame flags (RFC 9113 section 6).
inline constexpr std::uint8_t kEndStream = 0x1;
inline constexpr std::uint8_t kAck = 0x1;
inline constexpr std::uint8_t kEndHeaders = 0x4;
inline constexpr std::uint8_t kPadded = 0x8;
inline constexpr std::uint8_t kPriorityFlag = 0x20;

// Error codes (RFC 9113 section 7) the tests look for.
inline constexpr std::uint32_t kNoError = 0x0;
inline constexpr std::uint32_t kProtocolError = 0x1;
inline constexpr std::uint32_t kInternalError = 0x2;
inline constexpr std::uint32_t kCancel = 0x8;
inline constexpr std::uint32_t kEnhanceYourCalm = 0xb;

// SETTINGS identifiers (RFC 9113 section 6.5.2).
enum class Setting : std::uint16_t {
    header_table_size = 0x1,
    enable_push = 0x2,
    max_concurrent_streams = 0x3,
    initial_window_size = 0x4,
    max_frame_size = 0x5,
    max_header_list_size = 0x6,
};

// ---- writers ---------------------------------------------------------------------------------
// One frame: the 9-byte header, then `payload` (no checks on its size: tests may break rules).
std::string frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id,
                  std::string_view payload);
std::string settings_frame(std::initializer_list<std::pair<Setting, std::uint32_t>> values = {});
std::string settings_ack();
std::string ping_frame(std::uint64_t opaque, bool ack = false);
std::string window_update_frame(std::uint32_t stream_id, std::uint32_t increment);
std::string rst_stream_frame(std::uint32_t stream_id, std::uint32_t code);
std::string priority_frame(std::uint32_t stream_id, std::uint32_t depends_on, std::uint8_t weight);
std::string data_frame(std::uint32_t stream_id, std::string_view data, bool end_stream);
std::string headers_frame(std::uint32_t stream_id, std::string_view block, bool end_stream,
                          bool end_headers = true);
std::string continuation_frame(std::uint32_t stream_id, std::string_view block, bool end_headers);

// ---- HPACK (RFC 7541), encoder side: no Huffman, never indexes on its own ----------------------
class HpackBlock {
  public:
    // 6.2.2 "literal header field without indexing, new name": what a plain request uses.
    HpackBlock& literal(std::string_view name, std::string_view value);
    // 6.2.1 "literal header field with incremental indexing, new name": adds the field to the
    // decoder's dynamic table (as entry 62, pushing older ones up).
    HpackBlock& literal_indexed(std::string_view name, std::string_view value);
    // 6.1 "indexed header field": 1..61 static table, 62.. dynamic table.
    HpackBlock& indexed(std::uint32_t index);
    const std::string& bytes() const { return bytes_; }
    std::size_t size() const { return bytes_.size(); }

  private:
    void string_literal(std::string_view s);
    std::string bytes_;
};

// HPACK integer (RFC 7541 5.1) with a `prefix_bits` prefix; `first` holds the bits above it.
void hpack_integer(std::string& out, std::uint8_t first, int prefix_bits, std::uint32_t value);

// A request head's block, literal fields only (:method, :scheme http, :path, :authority, extras).
HpackBlock request_block(std::string_view method, std::string_view path,
                         std::vector<std::pair<std::string, std::string>> extra = {});

// ---- reader ----------------------------------------------------------------------------------
struct Frame {
    std::uint8_t type = 0;  // FrameType, or an unknown type
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;
    std::string payload;

    bool is(FrameType t) const { return type == static_cast<std::uint8_t>(t); }
};

// Splits a byte stream into frames.
class FrameReader {
  public:
    void append(std::string_view bytes) { buffer_.append(bytes); }
    // The next whole frame, or nullopt until more bytes arrive.
    std::optional<Frame> next();

  private:
    std::string buffer_;
    std::size_t pos_ = 0;
};

struct Goaway {
    std::uint32_t last_stream_id = 0;
    std::uint32_t error_code = 0;
    std::string debug;
};
std::optional<Goaway> parse_goaway(const Frame& f);
std::optional<std::uint32_t> parse_rst_stream(const Frame& f);  // the error code
// The :status of a response HEADERS frame, when its first field is :status written as a static
// table index (8-14) or a literal with the static name (raw or Huffman-coded digits). nullopt for
// anything else (for example a reference to the server's dynamic table).
std::optional<int> response_status(const Frame& headers);

// ---- connection ------------------------------------------------------------------------------
// A raw h2c (prior knowledge) client connection to 127.0.0.1:port. The constructor sends the
// preface and a SETTINGS frame with `settings`. Sends never block for longer than 5 s.
class Connection {
  public:
    explicit Connection(int port,
                        std::initializer_list<std::pair<Setting, std::uint32_t>> settings = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    // False once the peer is gone (EPIPE, ECONNRESET, a send that could not finish in 5 s).
    bool send(std::string_view bytes);

    // Reads what arrives within `timeout` (0: only what is already there) and queues its frames.
    // Every SETTINGS frame of the server is acknowledged, as a client must. Returns false when
    // the peer closed the connection (EOF or reset).
    bool poll(std::chrono::milliseconds timeout = 0ms);
    // The next frame (waiting up to `timeout`), or nullopt on timeout or close.
    std::optional<Frame> next(std::chrono::milliseconds timeout);
    // Reads and drops frames until the first GOAWAY or close, up to `timeout`.
    void read_until_goaway_or_close(std::chrono::milliseconds timeout);

    // The first GOAWAY the server sent, once read.
    const std::optional<Goaway>& goaway() const { return goaway_; }
    bool closed() const { return closed_; }
    std::size_t frames_received() const { return frames_received_; }
    std::size_t bytes_received() const { return bytes_received_; }
    // Frames read and not yet taken by next().
    std::deque<Frame>& inbox() { return inbox_; }

  private:
    int fd_ = -1;
    bool closed_ = false;
    FrameReader reader_;
    std::deque<Frame> inbox_;
    std::optional<Goaway> goaway_;
    std::size_t frames_received_ = 0;
    std::size_t bytes_received_ = 0;
};

// A well-behaved client's GET over a fresh h2c connection: the :status of stream 1's response
// and the body length, or nullopt when no complete response arrived within `timeout`.
struct Response {
    int status = 0;
    std::size_t body_bytes = 0;
};
std::optional<Response> get(int port, std::string_view path,
                            std::chrono::milliseconds timeout = 5s);

}  // namespace usher::test::h2
