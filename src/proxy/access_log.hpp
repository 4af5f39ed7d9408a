#pragma once
// Per-worker access log: one line per request, formatted into a worker-local buffer and written
// with one write(2) when the buffer fills or once a second, never per line under load. Each worker
// opens the file itself (O_APPEND, so lines from workers never interleave inside a line).
// reopen() (SIGUSR1) closes and reopens the file for log rotation.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/asio.hpp"

namespace usher::proxy {

struct AccessEntry {
    std::string_view remote_addr;
    std::string_view method;
    std::string_view path;
    std::string_view version;  // "HTTP/1.1"
    std::string_view host;
    std::string_view referer;
    std::string_view user_agent;
    std::string_view route;  // "" when no route matched
    std::string_view cluster;
    std::string_view upstream;  // endpoint label, "" when none was contacted
    std::string_view cause;     // why usher answered or aborted ("" when the backend answered)
    std::string_view client_subject;  // mTLS: the verified client certificate subject, or ""
    std::uint16_t status = 0;
    std::uint64_t bytes_in = 0;   // request body bytes read from the client
    std::uint64_t bytes_out = 0;  // response body bytes sent to the client
    std::chrono::system_clock::time_point start;
    double total_s = 0;        // whole exchange
    double connect_s = -1;     // upstream connect (-1: reused connection or none)
    double first_byte_s = -1;  // request sent -> first response byte (-1: none)
};

class AccessLog {
  public:
    // Opens the destination ("-" = stdout). Throws std::runtime_error naming the file on failure.
    AccessLog(const config::AccessLog& cfg, asio::io_context& io);
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    void record(const AccessEntry& e);
    void flush() noexcept;
    void reopen();
    // Starts the once-a-second flush timer (runs until stop()).
    void start();
    void stop() noexcept;

  private:
    void format_combined(const AccessEntry& e);
    void format_json(const AccessEntry& e);
    void schedule_flush();

    config::AccessLog cfg_;
    int fd_ = -1;
    bool owns_fd_ = false;
    std::string buffer_;
    SteadyTimer timer_;
    bool running_ = false;
    std::int64_t cached_second_ = -1;
    std::string cached_time_;  // the formatted time of cached_second_
};

}  // namespace usher::proxy
