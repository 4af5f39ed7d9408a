// Heap allocations per proxied keep-alive request (issue 6, "a counted hot path").
//
// This binary replaces the global operator new/delete (every variant: sized, aligned, nothrow,
// arrays) and the C allocation functions (malloc, calloc, realloc, aligned_alloc, memalign,
// posix_memalign: forwarded to glibc's __libc_* entry points) with counting versions and runs
// usher in-process: a config from a YAML string,
// server::build_snapshot, one server::Worker listening on 127.0.0.1:0 on its own thread, and a
// blocking backend in the test answering `200 OK` with a 5-byte body. A raw keep-alive client
// sends 200 warm-up GETs, then at least 1,000 more for at least 1.2 s (so the once-a-second access
// log flush and pool sweeper fall inside); the test fails if usher's code allocated in that
// window, through operator new or the C functions (coroutine frames included: see
// expect_no_allocation).
//
// Only threads that usher itself runs are counted (here: the one worker thread): the test's client
// (the gtest main thread) and the backend's threads mark themselves as not counted. As a control,
// the first exchange on a new connection must allocate (connection state, upstream connect): that
// shows the hook sees the worker thread.
//
// Debugging a non-zero count: USHER_ALLOC_TRACE=N prints a backtrace of the first N allocations
// of the steady-state window to stderr (symbols are exported; pipe through c++filt, or resolve
// the +0x offsets with addr2line -f -C -e build/tests/usher_alloc_tests).
//
// Under ASan the replacement would fight the sanitizer's own operator new: the binary is not
// built with USHER_SANITIZE (tests/CMakeLists.txt), and if it is built anyway the test skips.
#include <arpa/inet.h>
#include <execinfo.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/loader.hpp"
#include "core/log.hpp"
#include "server/server.hpp"
#include "server/worker.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define USHER_ALLOC_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define USHER_ALLOC_TEST_SANITIZED 1
#endif
#endif
#ifndef USHER_ALLOC_TEST_SANITIZED
#define USHER_ALLOC_TEST_SANITIZED 0
#endif

// ---- the counting allocator -------------------------------------------------------------------
// glibc's own entry points, so the C-level hooks below can forward without recursion.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
}

namespace {

std::atomic<bool> g_measuring{false};
std::atomic<std::uint64_t> g_count{0};      // every allocation (operator new and C level)
std::atomic<std::uint64_t> g_new_count{0};  // through operator new only
std::atomic<std::uint64_t> g_bytes{0};
std::atomic<int> g_traces_left{0};  // USHER_ALLOC_TRACE: backtraces still to print

thread_local bool t_not_counted = false;  // the test's own threads
thread_local bool t_in_hook = false;      // backtrace() may allocate: no recursion

void note_allocation(std::size_t size, bool by_new = false) noexcept {
    if (!g_measuring.load(std::memory_order_relaxed) || t_not_counted || t_in_hook) {
        return;
    }
    g_count.fetch_add(1, std::memory_order_relaxed);
    if (by_new) {
        g_new_count.fetch_add(1, std::memory_order_relaxed);
    }
    g_bytes.fetch_add(size, std::memory_order_relaxed);
    if (g_traces_left.load(std::memory_order_relaxed) > 0 &&
        g_traces_left.fetch_sub(1, std::memory_order_relaxed) > 0) {
        t_in_hook = true;
        char line[96];
        int n = std::snprintf(line, sizeof line, "---- counted allocation of %zu bytes:\n", size);
        if (n > 0) {
            (void)!::write(STDERR_FILENO, line, static_cast<std::size_t>(n));
        }
        void* frames[48];
        int depth = ::backtrace(frames, 48);
        ::backtrace_symbols_fd(frames, depth, STDERR_FILENO);
        t_in_hook = false;
    }
}

void* counted_alloc(std::size_t size) {
    note_allocation(size, true);
    if (void* p = __libc_malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}

void* counted_alloc_nothrow(std::size_t size) noexcept {
    note_allocation(size, true);
    return __libc_malloc(size == 0 ? 1 : size);
}

void* counted_aligned_alloc_nothrow(std::size_t size, std::align_val_t align) noexcept {
    note_allocation(size, true);
    auto a = static_cast<std::size_t>(align);
    if (a < sizeof(void*)) {
        a = sizeof(void*);
    }
    return __libc_memalign(a, size == 0 ? 1 : size);
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) {
    if (void* p = counted_aligned_alloc_nothrow(size, align)) {
        return p;
    }
    throw std::bad_alloc();
}

}  // namespace

#if !USHER_ALLOC_TEST_SANITIZED
// NOLINTBEGIN(misc-new-delete-overloads)
// C-level allocations are counted too: Asio's recycling allocator takes coroutine frames it
// cannot recycle (over 1020 bytes, or when its cache has no fitting block) from aligned_alloc,
// and OpenSSL and libc use malloc. (operator new below calls __libc_malloc: counted once.)
extern "C" void* malloc(std::size_t size) {
    note_allocation(size);
    return __libc_malloc(size);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
    note_allocation(n * size);
    return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t size) {
    note_allocation(size);
    return __libc_realloc(p, size);
}
extern "C" void* aligned_alloc(std::size_t align, std::size_t size) {
    note_allocation(size);
    return __libc_memalign(align, size);
}
extern "C" void* memalign(std::size_t align, std::size_t size) {
    note_allocation(size);
    return __libc_memalign(align, size);
}
extern "C" int posix_memalign(void** out, std::size_t align, std::size_t size) {
    note_allocation(size);
    void* p = __libc_memalign(align, size);
    if (p == nullptr) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}
void* operator new(std::size_t size) {
    return counted_alloc(size);
}
void* operator new[](std::size_t size) {
    return counted_alloc(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted_alloc_nothrow(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted_alloc_nothrow(size);
}
void* operator new(std::size_t size, std::align_val_t align) {
    return counted_aligned_alloc(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
    return counted_aligned_alloc(size, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc_nothrow(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    return counted_aligned_alloc_nothrow(size, align);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
// NOLINTEND(misc-new-delete-overloads)
#endif

namespace usher::test {
namespace {

using namespace std::chrono_literals;

constexpr int kWarmup = 200;
constexpr std::uint64_t kMeasured = 1000;
constexpr auto kMinWindow = 1200ms;
constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
constexpr std::string_view kSmallGet = "GET /small HTTP/1.1\r\nHost: example.test\r\n\r\n";
// What a browser sends: ~600 bytes, a query string, a cookie, an X-Forwarded-For usher appends to
// (127.0.0.1 is not a trusted proxy here, so it is replaced).
constexpr std::string_view kBrowserGet =
    "GET /assets/app.js?v=20240101&lang=en HTTP/1.1\r\n"
    "Host: www.example.test\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;"
    "q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.test/index.html\r\n"
    "Cookie: session=4f2a9c1e7b3d5a6f8e0c2b4d6a8f0e1c; theme=dark; consent=yes\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "X-Forwarded-For: 203.0.113.7\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

int listen_on_loopback(int& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    port = ntohs(addr.sin_port);
    return fd;
}

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// A keep-alive backend: each connection on its own thread, reading request heads (GETs without
// bodies) and answering each with kResponse. No allocation per request on its side either,
// though its threads are not counted anyway.
class Backend {
  public:
    Backend() {
        listen_fd_ = listen_on_loopback(port_);
        if (listen_fd_ >= 0) {
            acceptor_ = std::thread([this] { accept_loop(); });
        }
    }
    ~Backend() {
        stopping_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);
        if (acceptor_.joinable()) {
            acceptor_.join();
        }
        for (auto& t : conns_) {
            t.join();
        }
        ::close(listen_fd_);
    }
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;
    int port() const { return port_; }
    bool ok() const { return listen_fd_ >= 0; }

  private:
    void accept_loop() {
        t_not_counted = true;
        while (!stopping_) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                return;
            }
            conns_.emplace_back([fd] { serve(fd); });
        }
    }
    static void serve(int fd) {
        t_not_counted = true;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[8192];
        std::size_t have = 0;
        for (;;) {
            auto n = ::recv(fd, buf + have, sizeof buf - have, 0);
            if (n <= 0) {
                break;
            }
            have += static_cast<std::size_t>(n);
            // Answer every complete head in the buffer.
            for (;;) {
                std::string_view view(buf, have);
                auto end = view.find("\r\n\r\n");
                if (end == std::string_view::npos) {
                    break;
                }
                if (!write_all(fd, kResponse)) {
                    ::close(fd);
                    return;
                }
                std::size_t used = end + 4;
                std::memmove(buf, buf + used, have - used);
                have -= used;
            }
            if (have == sizeof buf) {
                break;
            }
        }
        ::close(fd);
    }

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::vector<std::thread> conns_;  // touched only by the acceptor thread until it is joined
};

// A blocking keep-alive client on the test's (uncounted) thread.
class Client {
  public:
    Client(int port, std::string_view request) : request_(request) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
            return;
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~Client() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    bool connected() const { return fd_ >= 0; }

    // One GET; true when a `200` with the 5-byte body came back within 5 s.
    bool get() {
        if (!write_all(fd_, request_)) {
            return false;
        }
        char buf[1024];
        std::size_t have = 0;
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) {
                return false;
            }
            auto n = ::recv(fd_, buf + have, sizeof buf - have, 0);
            if (n <= 0) {
                return false;
            }
            have += static_cast<std::size_t>(n);
            std::string_view view(buf, have);
            auto end = view.find("\r\n\r\n");
            if (end == std::string_view::npos) {
                if (have == sizeof buf) {
                    return false;
                }
                continue;
            }
            // The tests' backend always answers Content-Length: 5; usher keeps the length.
            auto cl = view.find("Content-Length: 5\r\n");
            if (view.substr(0, 13) != "HTTP/1.1 200 " || cl == std::string_view::npos || cl > end) {
                return false;
            }
            if (have < end + 4 + 5) {
                continue;
            }
            return have == end + 4 + 5 && view.substr(end + 4) == "hello";
        }
    }

  private:
    std::string_view request_;
    int fd_ = -1;
};

struct Figures {
    std::uint64_t allocations = 0;      // all, in the measured window
    std::uint64_t new_allocations = 0;  // through operator new
    std::uint64_t bytes = 0;
    std::uint64_t requests = 0;  // in the measured window
    // The first exchange on a new connection (connection state, upstream connect): it must
    // allocate, which shows that the hook sees the worker thread at all.
    std::uint64_t first_exchange = 0;
};

// Runs usher with `extra_yaml` appended to a one-cluster config, warms up, then counts.
Figures measure(const std::string& extra_yaml, std::string_view request, bool* ok) {
    *ok = false;
    Figures f;
    Backend backend;
    if (!backend.ok()) {
        ADD_FAILURE() << "backend did not start";
        return f;
    }
    std::string yaml =
        "workers: 1\nlog_level: error\nlisteners:\n  - address: 127.0.0.1:0\n"
        "clusters:\n  app:\n    endpoints: [\"127.0.0.1:" +
        std::to_string(backend.port()) + "\"]\n" + extra_yaml;
    auto loaded = config::load_string(yaml, "alloc_per_request_test");
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) {
            ADD_FAILURE() << e.to_string();
        }
        return f;
    }
    log::set_level(log::Level::error);
    auto snapshot = server::build_snapshot(loaded.config, 1);
    const auto& l = loaded.config->listeners.at(0);
    std::vector<server::ListenerSpec> specs;
    specs.push_back({{l.name, l.address.to_string(), nullptr, false, 443, ""},
                     asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0),
                     l.backlog,
                     l.max_connections});
    server::Worker worker(0, snapshot);
    std::string failed;
    if (auto ec = worker.open_listeners(specs, failed)) {
        ADD_FAILURE() << "listen " << failed << ": " << ec.message();
        return f;
    }
    worker.start();
    std::this_thread::sleep_for(20ms);  // the worker's start-up (accept loop, timers) is done
    g_count = 0;
    g_measuring = true;
    {
        Client client(specs[0].endpoint.port(), request);
        if (!client.connected()) {
            g_measuring = false;
            ADD_FAILURE() << "cannot connect to usher";
        } else {
            bool good = client.get();
            EXPECT_TRUE(good) << "first request failed";
            std::this_thread::sleep_for(20ms);
            g_measuring = false;
            f.first_exchange = g_count;
            for (int i = 1; i < kWarmup && good; ++i) {
                good = client.get();
                EXPECT_TRUE(good) << "warm-up request " << i << " failed";
            }
            // Let the worker finish the last warm-up exchange (releasing the upstream connection,
            // the access log line) before the window opens, and the last measured one before
            // it closes, so the window holds only whole measured exchanges.
            std::this_thread::sleep_for(50ms);
            g_count = 0;
            g_new_count = 0;
            g_bytes = 0;
            if (const char* n = std::getenv("USHER_ALLOC_TRACE")) {
                g_traces_left = std::atoi(n);  // steady-state allocations only
            }
            g_measuring = true;
            // At least kMeasured requests, and at least kMinWindow so the once-a-second work
            // (access log flush and its new timestamp, the pool sweeper) falls inside too.
            const auto start = std::chrono::steady_clock::now();
            while (good && (f.requests < kMeasured ||
                            std::chrono::steady_clock::now() - start < kMinWindow)) {
                good = client.get();
                EXPECT_TRUE(good) << "measured request " << f.requests << " failed";
                ++f.requests;
            }
            std::this_thread::sleep_for(50ms);
            g_measuring = false;
            g_traces_left = 0;
            f.allocations = g_count;
            f.new_allocations = g_new_count;
            f.bytes = g_bytes;
            *ok = good;
        }
    }
    worker.drain(2s);
    worker.join();
    return f;
}

class AllocPerRequest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (USHER_ALLOC_TEST_SANITIZED) {
            GTEST_SKIP() << "built with a sanitizer: its operator new replaces ours, nothing to "
                            "count (this test runs in the release build)";
        }
        t_not_counted = true;  // the gtest main thread is the client
        // Load libgcc's unwinder now, not inside the measured window.
        void* frames[4];
        (void)::backtrace(frames, 4);
    }
};

void report(const char* what, const Figures& f) {
    std::printf(
        "[ alloc    ] %s: first exchange on a new connection %llu allocations; "
        "steady state %llu allocations (%llu through operator new; %llu bytes) in %llu keep-alive "
        "GETs = %.3f allocations/request, %.1f bytes/request\n",
        what, static_cast<unsigned long long>(f.first_exchange),
        static_cast<unsigned long long>(f.allocations),
        static_cast<unsigned long long>(f.new_allocations),
        static_cast<unsigned long long>(f.bytes), static_cast<unsigned long long>(f.requests),
        static_cast<double>(f.allocations) / static_cast<double>(f.requests),
        static_cast<double>(f.bytes) / static_cast<double>(f.requests));
    std::fflush(stdout);
}

// Nothing at all: no operator new and no C-level allocation. Coroutine frames count here too:
// Asio's per-thread recycling allocator keeps freed frames of at most 1,020 bytes, so a frame
// larger than that (GCC does not overlap a coroutine's locals and temporaries) would take
// aligned_alloc on every request and evict a cached small frame; forward() and the body relay are
// split into small coroutines for that reason (proxy/proxy_handler_forward.cpp).
void expect_no_allocation(const Figures& f) {
    EXPECT_EQ(f.new_allocations, 0u)
        << "operator new was called " << f.new_allocations << " times in " << f.requests
        << " steady-state GETs; rerun with USHER_ALLOC_TRACE=5 to see where";
    EXPECT_EQ(f.allocations, 0u)
        << f.allocations << " C-level allocations (" << f.bytes << " bytes) in " << f.requests
        << " steady-state GETs: a coroutine frame over 1,020 bytes, or a malloc; rerun with "
           "USHER_ALLOC_TRACE=20 to see where";
}

TEST_F(AllocPerRequest, SmallKeepAliveGetAllocatesNothing) {
    bool ok = false;
    auto f = measure("", kSmallGet, &ok);
    ASSERT_TRUE(ok);
    report("access log off", f);
    EXPECT_GT(f.first_exchange, 0u) << "the hook saw no allocation on the worker thread for a new "
                                       "connection: it is not counting";
    expect_no_allocation(f);
}

TEST_F(AllocPerRequest, SmallKeepAliveGetWithAccessLogAllocatesNothing) {
    bool ok = false;
    auto f = measure("access_log:\n  path: /dev/null\n  format: combined\n", kSmallGet, &ok);
    ASSERT_TRUE(ok);
    report("access log to /dev/null (combined)", f);
    expect_no_allocation(f);
}

TEST_F(AllocPerRequest, BrowserGetAllocatesNothing) {
    bool ok = false;
    auto f = measure("access_log:\n  path: /dev/null\n  format: json\n", kBrowserGet, &ok);
    ASSERT_TRUE(ok);
    report("browser GET, access log to /dev/null (json)", f);
    expect_no_allocation(f);
}

}  // namespace
}  // namespace usher::test
