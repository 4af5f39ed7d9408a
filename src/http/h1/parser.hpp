#pragma once
// Strict, sans-I/O HTTP/1.1 message-head parsers and chunked decoder (RFC 9110 / RFC 9112).
//
// No I/O and no allocation beyond the caller's HeaderMap capacity: every view in the output points
// into the caller's buffer. Callers hand the whole unconsumed prefix of their buffer on each call;
// parsing a head is restarted from the beginning of that buffer, which is cheap because heads are
// small and bounded by ParserLimits.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.hpp"

namespace usher::http::h1 {

struct ParserLimits {
    std::size_t max_request_line = 8 * 1024;   // longer request line -> 414
    std::size_t max_header_bytes = 64 * 1024;  // whole head incl. request line -> 431
    std::size_t max_header_count = 100;        // more fields -> 431
    bool allow_bare_lf = false;                // accept LF without CR as a line ending
};

// Why a message was rejected. `status` is the local reply a server should send (400, 414, 431,
// 501, 505); for responses from a backend the proxy answers 502 whatever `status` says.
struct ParseError {
    std::uint16_t status = 0;
    std::string_view reason;  // static string, short and safe to show/log ("bare CR in field")
};

struct ParseResult {
    enum class Kind : std::uint8_t { complete, incomplete, error };
    Kind kind = Kind::incomplete;
    std::size_t consumed = 0;  // complete: bytes of the head including the final empty line
                               // (and any ignored empty lines before the start line)
    ParseError error;          // error: why

    static ParseResult incomplete_() noexcept { return {}; }
    bool ok() const noexcept { return kind == Kind::complete; }
};

// Parses a request head at the start of `buf` into `out` (cleared first).
// Returns:
//   complete   - `consumed` bytes form the head; `out` is filled, framing derived and validated.
//   incomplete - no complete head yet and no limit exceeded: read more and call again.
//   error      - the request is invalid or exceeds a limit; `error.status` is 400/414/431/501/505.
//                The connection's framing is unknown afterwards: reply and close.
ParseResult parse_request_head(std::string_view buf, const ParserLimits& limits, RequestHead& out);

// Parses a response head at the start of `buf` into `out` (cleared first).
// `request_method` is the method of the request this answers (HEAD and CONNECT change framing).
// Returns as parse_request_head; any error means the response must not be forwarded, and its
// `error.status` is always 502.
// 1xx responses are returned as complete heads with framing none; the caller loops for the final.
ParseResult parse_response_head(std::string_view buf, const ParserLimits& limits,
                                std::string_view request_method, ResponseHead& out);

// Incremental decoder of the chunked transfer coding (RFC 9112 section 7.1).
class ChunkedDecoder {
  public:
    struct Step {
        enum class Kind : std::uint8_t { need_more, data, done, error };
        Kind kind = Kind::need_more;
        std::size_t consumed = 0;  // bytes of `input` used by this step (may be > 0 for need_more)
        std::string_view data;     // data: chunk payload bytes, a view into `input`
        // done: the raw trailer field lines, each ending in CRLF (may be empty); validated like
        // header fields and bounded by max_trailer_bytes.
        std::string_view trailers;
        ParseError error;  // error: why (status 400)
    };

    explicit ChunkedDecoder(std::size_t max_trailer_bytes = 16 * 1024) noexcept
        : max_trailer_bytes_(max_trailer_bytes) {}

    // Decodes from the start of `input`. Call again with the remaining input
    // (input.substr(consumed) plus newly read bytes) until done or error. Chunk extensions are
    // validated and dropped.
    Step decode(std::string_view input) noexcept;

    void reset() noexcept;
    bool finished() const noexcept;

  private:
    Step decode_trailers(std::string_view input, std::size_t pos) noexcept;

    enum class State : std::uint8_t { size, data, data_crlf, trailers, done, failed };
    State state_ = State::size;
    std::uint64_t remaining_ = 0;
    std::size_t max_trailer_bytes_;
};

}  // namespace usher::http::h1
