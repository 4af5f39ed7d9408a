#pragma once
// Integration-test harness: runs the real usher binary against fake backends on port 0.
//   UsherProcess   writes a config, starts build/usher, learns its port from the
//                  "listening on http://..." log line, stops it with SIGTERM.
//   FakeBackend    a blocking-socket server on 127.0.0.1:0; each accepted connection runs the
//                  test's handler on its own thread, with helpers to read requests and write bytes.
//   Raw client helpers (connect, send, read until close) and a small libcurl wrapper.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace usher::test {

using namespace std::chrono_literals;

// ---- sockets ---------------------------------------------------------------------------------
int connect_to(int port);  // blocking TCP connect to 127.0.0.1:port, or -1
bool send_all(int fd, std::string_view bytes);
// Reads until `done(buffer)` is true, the peer closes, or `timeout` passes.
std::string read_until(int fd, const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout = 5s);
std::string read_to_close(int fd, std::chrono::milliseconds timeout = 5s);
// True when the peer closed the connection (EOF or reset) within `timeout` with no more data.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout);

// A parsed HTTP/1 message as the tests see it (lenient; for assertions only).
struct Message {
    std::string start_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string raw_head;
    std::optional<std::string> header(std::string_view name) const;
    int count(std::string_view name) const;
    int status() const;  // responses
};
// Reads one request (head + CL or chunked body, decoded) from a blocking socket.
std::optional<Message> read_request(int fd, std::string& buffer,
                                    std::chrono::milliseconds timeout = 5s);
// Parses one response from the start of `bytes` (CL/chunked/none); nullopt if incomplete.
std::optional<Message> parse_response(const std::string& bytes, std::size_t* consumed = nullptr,
                                      bool head_request = false);

// ---- fake backend ----------------------------------------------------------------------------
class FakeBackend {
  public:
    // handler(fd, connection_index) runs on its own thread for each accepted connection; the
    // harness closes fd after it returns.
    using Handler = std::function<void(int fd, int conn_index)>;
    explicit FakeBackend(Handler handler, int backlog = 128);
    ~FakeBackend();
    // Simulates a dead process: closes the listening socket (new connects are refused) and
    // shuts down every open connection, then waits for the handlers to return.
    void stop();
    // Listens again on the same port (after stop()) with the same handler; false if the port
    // could not be bound again within `timeout`.
    bool restart(std::chrono::milliseconds timeout = 5s);
    bool running() const { return listen_fd_ >= 0; }
    int port() const { return port_; }
    int connections() const { return connections_.load(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    // Thread-safe log of requests the handlers chose to record.
    void record(Message m);
    std::vector<Message> requests();

    // A handler that answers every request on a keep-alive connection with `status`/`body`.
    static Handler responder(int status, std::string body,
                             std::vector<std::pair<std::string, std::string>> extra = {},
                             FakeBackend** self = nullptr);

  private:
    void accept_loop(int listen_fd);
    bool open_listener(int port);  // binds 127.0.0.1:port (0 = any), listens, sets port_
    int listen_fd_ = -1;
    int backlog_ = 128;
    int port_ = 0;
    Handler handler_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread acceptor_;
    std::mutex mu_;
    std::vector<std::thread> workers_;
    std::vector<int> open_fds_;
    std::vector<Message> requests_;
};

// A backend that echoes what it learned about each request into the response body
// ("method path\nheader: value\n...\n\nbody"), keep-alive, and records every request.
std::unique_ptr<FakeBackend> make_echo_backend();

// The smallest config: workers, one listener on "{LISTEN}" and cluster "app" with `endpoint`,
// then `extra` YAML at the top level (routes, timeouts, ...).
std::string cluster_config(const std::string& endpoint, const std::string& extra = "",
                           int workers = 1);

// ---- usher process ---------------------------------------------------------------------------
class UsherProcess {
  public:
    // `config_yaml` must contain "{LISTEN}" where the listener address goes (127.0.0.1:0).
    // `max_files` > 0 lowers RLIMIT_NOFILE for the child (file-descriptor exhaustion tests).
    explicit UsherProcess(const std::string& config_yaml, std::vector<std::string> extra_args = {},
                          int max_files = 0);
    ~UsherProcess();
    bool started() const { return port_ > 0; }
    int port() const { return port_; }
    int pid() const { return pid_; }
    std::string url(std::string_view path = "/") const;
    // Sends SIGTERM and waits; returns the exit status (or -1 on timeout, after SIGKILL).
    int stop(std::chrono::milliseconds timeout = 10s);
    void signal(int sig);
    std::string log() const;    // everything usher wrote to stderr so far
    long rss_peak_kib() const;  // VmHWM
    long rss_kib() const;       // VmRSS
    std::string config_path() const { return config_path_; }

  private:
    void report_crash(int exit_code) const;
    int pid_ = -1;
    int port_ = 0;
    std::string dir_;
    std::string config_path_;
    std::string log_path_;
    bool exited_ = false;
};

// Runs usher with arguments to completion; returns exit code and captures stdout/stderr.
struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
RunResult run_usher(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s);

// Runs `command` with /bin/sh, capturing stdout and stderr together (real CLI peers: openssl
// s_client, nghttp, h2load).
struct Shell {
    int exit_code = -1;
    std::string out;
};
Shell sh(const std::string& command);

// ---- libcurl ---------------------------------------------------------------------------------
struct CurlResult {
    long status = 0;
    int curl_code = 0;  // CURLcode
    std::string body;
    std::string headers;  // raw response head(s)
    double total_time = 0;
    long http_version = 0;  // CURL_HTTP_VERSION_1_0 / 1_1 / 2_0 as negotiated
};
struct CurlOptions {
    std::string method = "GET";
    std::string body;
    std::vector<std::string> headers;
    bool http10 = false;
    // HTTP/2: over TLS by ALPN (https://), or with prior knowledge (http://, h2c).
    bool http2 = false;
    long timeout_ms = 10000;
    // TLS (https:// URLs): CA bundle to verify the server with, optional client certificate, and
    // CURLOPT_RESOLVE entries ("host:port:127.0.0.1") so certificate names can be used in URLs.
    std::string ca_file;
    std::string client_cert, client_key;
    std::vector<std::string> resolve;
};
CurlResult curl_request(const std::string& url, const CurlOptions& options = {});

// A keep-alive libcurl client (one easy handle reused, so one connection when possible).
class CurlClient {
  public:
    CurlClient();
    // For https:// URLs: verify with `ca_file`, resolve names per `resolve` ("host:port:addr").
    CurlClient(std::string ca_file, std::vector<std::string> resolve);
    ~CurlClient();
    CurlResult get(const std::string& url);
    long connects() const { return connects_; }  // new connections curl had to open

  private:
    void* handle_;
    long connects_ = 0;
    std::string ca_file_;
    void* resolve_ = nullptr;  // curl_slist*
};

}  // namespace usher::test
