#include "harness.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

namespace usher::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Parses a head (through CRLFCRLF) into m; returns false when malformed.
bool parse_head(std::string_view head, Message& m) {
    m.raw_head = std::string(head);
    auto eol = head.find("\r\n");
    m.start_line = std::string(head.substr(0, eol));
    std::string_view rest = head.substr(eol + 2);
    while (!rest.empty()) {
        auto e = rest.find("\r\n");
        if (e == 0 || e == std::string_view::npos) {
            break;
        }
        auto line = rest.substr(0, e);
        rest.remove_prefix(e + 2);
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            return false;
        }
        auto value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        m.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return true;
}

// Decodes a chunked body at the start of `bytes`; returns consumed bytes or 0 if incomplete.
std::size_t decode_chunked(std::string_view bytes, std::string& body) {
    std::size_t pos = 0;
    for (;;) {
        auto eol = bytes.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            return 0;
        }
        auto size = std::strtoull(std::string(bytes.substr(pos, eol - pos)).c_str(), nullptr, 16);
        pos = eol + 2;
        if (size == 0) {
            // trailers until empty line
            for (;;) {
                auto e = bytes.find("\r\n", pos);
                if (e == std::string_view::npos) {
                    return 0;
                }
                bool empty = e == pos;
                pos = e + 2;
                if (empty) {
                    return pos;
                }
            }
        }
        if (bytes.size() < pos + size + 2) {
            return 0;
        }
        body.append(bytes.substr(pos, size));
        pos += size + 2;
    }
}

}  // namespace

std::optional<std::string> Message::header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
        if (lower(n) == lower(name)) {
            return v;
        }
    }
    return std::nullopt;
}

int Message::count(std::string_view name) const {
    int c = 0;
    for (const auto& [n, v] : headers) {
        c += lower(n) == lower(name) ? 1 : 0;
    }
    return c;
}

int Message::status() const {
    auto sp = start_line.find(' ');
    return sp == std::string::npos ? 0 : std::atoi(start_line.c_str() + sp + 1);
}

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string read_until(int fd, const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    while (!done(out)) {
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r <= 0) {
            break;
        }
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string read_to_close(int fd, std::chrono::milliseconds timeout) {
    return read_until(
        fd, [](const std::string&) { return false; }, timeout);
}

bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
        return false;
    }
    char c;
    auto n = ::recv(fd, &c, 1, 0);
    return n <= 0;
}

std::optional<Message> read_request(int fd, std::string& buffer,
                                    std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    auto fill = [&]() {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
            return false;
        }
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        buffer.append(buf, static_cast<std::size_t>(n));
        return true;
    };
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) {
            return std::nullopt;
        }
    }
    Message m;
    if (!parse_head(std::string_view(buffer).substr(0, end + 4), m)) {
        return std::nullopt;
    }
    buffer.erase(0, end + 4);
    if (auto cl = m.header("content-length")) {
        auto n = std::strtoull(cl->c_str(), nullptr, 10);
        while (buffer.size() < n) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        m.body = buffer.substr(0, n);
        buffer.erase(0, n);
    } else if (auto te = m.header("transfer-encoding"); te && lower(*te) == "chunked") {
        std::size_t used;
        for (;;) {
            std::string body;
            used = decode_chunked(buffer, body);
            if (used != 0) {
                m.body = std::move(body);
                break;
            }
            if (!fill()) {
                return std::nullopt;
            }
        }
        buffer.erase(0, used);
    }
    return m;
}

std::optional<Message> parse_response(const std::string& bytes, std::size_t* consumed,
                                      bool head_request) {
    auto end = bytes.find("\r\n\r\n");
    if (end == std::string::npos) {
        return std::nullopt;
    }
    Message m;
    if (!parse_head(std::string_view(bytes).substr(0, end + 4), m)) {
        return std::nullopt;
    }
    std::size_t pos = end + 4;
    int status = m.status();
    if (head_request || status == 204 || status == 304 || (status >= 100 && status < 200)) {
        // no body
    } else if (auto cl = m.header("content-length")) {
        auto n = std::strtoull(cl->c_str(), nullptr, 10);
        if (bytes.size() < pos + n) {
            return std::nullopt;
        }
        m.body = bytes.substr(pos, n);
        pos += n;
    } else if (auto te = m.header("transfer-encoding"); te && lower(*te) == "chunked") {
        auto used = decode_chunked(std::string_view(bytes).substr(pos), m.body);
        if (used == 0) {
            return std::nullopt;
        }
        pos += used;
    } else {
        m.body = bytes.substr(pos);
        pos = bytes.size();
    }
    if (consumed != nullptr) {
        *consumed = pos;
    }
    return m;
}

// ---- FakeBackend ------------------------------------------------------------------------------

FakeBackend::FakeBackend(Handler handler, int backlog)
    : backlog_(backlog), handler_(std::move(handler)) {
    open_listener(0);
    if (handler_) {
        acceptor_ = std::thread([this, fd = listen_fd_] { accept_loop(fd); });
    }
}

bool FakeBackend::open_listener(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, backlog_) != 0) {
        ::close(fd);
        return false;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen_fd_ = fd;
    return true;
}

FakeBackend::~FakeBackend() {
    stop();
}

void FakeBackend::stop() {
    stop_ = true;
    if (listen_fd_ >= 0) {
        ::shutdown(listen_fd_, SHUT_RDWR);
    }
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
    }
    std::vector<std::thread> workers;
    {
        std::lock_guard lock(mu_);
        for (int fd : open_fds_) {
            ::shutdown(fd, SHUT_RDWR);
        }
        workers.swap(workers_);
    }
    for (auto& t : workers) {
        if (t.joinable()) {
            t.join();
        }
    }
}

bool FakeBackend::restart(std::chrono::milliseconds timeout) {
    stop();
    auto deadline = Clock::now() + timeout;
    while (!open_listener(port_)) {
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    stop_ = false;
    if (handler_) {
        acceptor_ = std::thread([this, fd = listen_fd_] { accept_loop(fd); });
    }
    return true;
}

void FakeBackend::accept_loop(int listen_fd) {
    while (!stop_) {
        pollfd p{listen_fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int index = connections_++;
        std::lock_guard lock(mu_);
        open_fds_.push_back(fd);
        workers_.emplace_back([this, fd, index] {
            handler_(fd, index);
            {
                std::lock_guard inner(mu_);
                std::erase(open_fds_, fd);
            }
            ::close(fd);
        });
    }
}

void FakeBackend::record(Message m) {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(m));
}

std::vector<Message> FakeBackend::requests() {
    std::lock_guard lock(mu_);
    return requests_;
}

FakeBackend::Handler FakeBackend::responder(int status, std::string body,
                                            std::vector<std::pair<std::string, std::string>> extra,
                                            FakeBackend** self) {
    return [=](int fd, int) {
        std::string buffer;
        while (auto req = read_request(fd, buffer, 30s)) {
            if (self != nullptr && *self != nullptr) {
                (*self)->record(*req);
            }
            std::string resp = "HTTP/1.1 " + std::to_string(status) +
                               " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
            for (const auto& [n, v] : extra) {
                resp += n + ": " + v + "\r\n";
            }
            resp += "\r\n";
            if (req->start_line.rfind("HEAD ", 0) != 0) {
                resp += body;
            }
            if (!send_all(fd, resp)) {
                return;
            }
        }
    };
}

std::unique_ptr<FakeBackend> make_echo_backend() {
    auto holder = std::make_shared<FakeBackend*>(nullptr);
    auto backend = std::make_unique<FakeBackend>([holder](int fd, int) {
        std::string buffer;
        while (auto req = read_request(fd, buffer, 30s)) {
            std::string body = req->start_line + "\n";
            for (const auto& [n, v] : req->headers) {
                body += n + ": " + v + "\n";
            }
            body += "\n" + req->body;
            if (*holder != nullptr) {
                (*holder)->record(*req);
            }
            std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
            if (!send_all(fd, resp)) {
                return;
            }
        }
    });
    *holder = backend.get();
    return backend;
}

std::string cluster_config(const std::string& endpoint, const std::string& extra, int workers) {
    return "workers: " + std::to_string(workers) +
           "\nlisteners:\n  - address: \"{LISTEN}\"\nclusters:\n  app:\n    endpoints: [\"" +
           endpoint + "\"]\n" + extra;
}

// ---- UsherProcess -----------------------------------------------------------------------------

UsherProcess::UsherProcess(const std::string& config_yaml, std::vector<std::string> extra_args,
                           int max_files) {
    char tmpl[] = "/tmp/usher-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    config_path_ = dir_ + "/usher.yaml";
    log_path_ = dir_ + "/usher.log";
    std::string cfg = config_yaml;
    auto at = cfg.find("{LISTEN}");
    if (at != std::string::npos) {
        cfg.replace(at, 8, "127.0.0.1:0");
    }
    std::ofstream(config_path_) << cfg;

    pid_ = ::fork();
    if (pid_ == 0) {
        int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(log, STDERR_FILENO);
        ::dup2(log, STDOUT_FILENO);
        if (max_files > 0) {
            rlimit lim{static_cast<rlim_t>(max_files), static_cast<rlim_t>(max_files)};
            ::setrlimit(RLIMIT_NOFILE, &lim);
        }
        std::vector<std::string> args{USHER_BINARY, "-c", config_path_};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    // Wait for the "listening on http(s)://127.0.0.1:PORT" line (the first listener's).
    auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
        auto text = log();
        auto pos = text.find("listening on http");  // http:// or https://
        if (pos != std::string::npos) {
            auto colon = text.find("://", pos);
            colon = text.find(':', colon + 3);
            port_ = std::atoi(text.c_str() + colon + 1);
            if (port_ > 0) {
                break;
            }
        }
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
}

UsherProcess::~UsherProcess() {
    if (!exited_ && pid_ > 0) {
        stop(5s);
    }
    std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] int ignored = std::system(cmd.c_str());
}

std::string UsherProcess::url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void UsherProcess::signal(int sig) {
    if (pid_ > 0 && !exited_) {
        ::kill(pid_, sig);
    }
}

int UsherProcess::stop(std::chrono::milliseconds timeout) {
    if (exited_ || pid_ <= 0) {
        return -1;
    }
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + timeout;
    int status = 0;
    while (Clock::now() < deadline) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            report_crash(code);
            return code;
        }
        std::this_thread::sleep_for(5ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return -1;
}

// A crash or sanitizer report would otherwise stay in the temporary log, which the destructor
// deletes: the test's output (shown by ctest on failure) gets the end of the log instead.
void UsherProcess::report_crash(int code) const {
    const auto text = log();
    const bool sanitizer = text.find("Sanitizer") != std::string::npos ||
                           text.find("runtime error:") != std::string::npos;
    if (code <= 128 && !sanitizer) {
        return;
    }
    constexpr std::size_t kTail = 16 * 1024;
    std::cerr << "---- usher exited with " << code << "; the end of its log:\n"
              << (text.size() > kTail ? text.substr(text.size() - kTail) : text)
              << "---- end of usher's log\n";
}

std::string UsherProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

namespace {
long status_field(int pid, const char* field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field, 0) == 0) {
            return std::atol(line.c_str() + std::strlen(field));
        }
    }
    return -1;
}
}  // namespace

long UsherProcess::rss_peak_kib() const {
    return status_field(pid_, "VmHWM:");
}
long UsherProcess::rss_kib() const {
    return status_field(pid_, "VmRSS:");
}

RunResult run_usher(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    char tmpl[] = "/tmp/usher-run-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string out_path = dir + "/out", err_path = dir + "/err";
    int pid = ::fork();
    if (pid == 0) {
        int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        std::vector<std::string> all{USHER_BINARY};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : all) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    RunResult r;
    auto deadline = Clock::now() + timeout;
    int status = 0;
    bool done = false;
    while (Clock::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            done = true;
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    if (!done) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    } else {
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    auto slurp = [](const std::string& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    std::string cmd = "rm -rf '" + dir + "'";
    [[maybe_unused]] int ignored = std::system(cmd.c_str());
    return r;
}

// ---- libcurl ----------------------------------------------------------------------------------
namespace {
std::size_t append_cb(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}
struct CurlInit {
    CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
CurlInit& curl_init() {
    static CurlInit init;
    return init;
}
}  // namespace

Shell sh(const std::string& command) {
    Shell r;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return r;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        r.out.append(buf, n);
    }
    int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

CurlResult curl_request(const std::string& url, const CurlOptions& o) {
    curl_init();
    CURL* c = curl_easy_init();
    CurlResult r;
    curl_slist* headers = nullptr;
    for (const auto& h : o.headers) {
        headers = curl_slist_append(headers, h.c_str());
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, append_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (o.http10) {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_0);
    } else if (o.http2) {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                         url.starts_with("https:") ? CURL_HTTP_VERSION_2TLS
                                                   : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    }
    if (!o.ca_file.empty()) {
        curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
    }
    if (!o.client_cert.empty()) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, o.client_cert.c_str());
        curl_easy_setopt(c, CURLOPT_SSLKEY, o.client_key.c_str());
    }
    curl_slist* resolve = nullptr;
    for (const auto& entry : o.resolve) {
        resolve = curl_slist_append(resolve, entry.c_str());
    }
    if (resolve != nullptr) {
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    }
    if (o.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (o.method != "GET" || !o.body.empty()) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o.method.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o.body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.body.size()));
    }
    r.curl_code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r.total_time);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r.http_version);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    curl_slist_free_all(resolve);
    return r;
}

CurlClient::CurlClient() {
    curl_init();
    handle_ = curl_easy_init();
}

CurlClient::CurlClient(std::string ca_file, std::vector<std::string> resolve) : CurlClient() {
    ca_file_ = std::move(ca_file);
    curl_slist* list = nullptr;
    for (const auto& entry : resolve) {
        list = curl_slist_append(list, entry.c_str());
    }
    resolve_ = list;
}

CurlClient::~CurlClient() {
    curl_easy_cleanup(static_cast<CURL*>(handle_));
    curl_slist_free_all(static_cast<curl_slist*>(resolve_));
}

CurlResult CurlClient::get(const std::string& url) {
    auto* c = static_cast<CURL*>(handle_);
    CurlResult r;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, append_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!ca_file_.empty()) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
    }
    if (resolve_ != nullptr) {
        curl_easy_setopt(c, CURLOPT_RESOLVE, static_cast<curl_slist*>(resolve_));
    }
    r.curl_code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    long n = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &n);
    connects_ += n;
    return r;
}

}  // namespace usher::test
