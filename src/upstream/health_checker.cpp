#include "upstream/health_checker.hpp"

#include <algorithm>
#include <asio/experimental/awaitable_operators.hpp>
#include <random>

#include "core/log.hpp"
#include "http/h1/parser.hpp"
#include "net/tls_client_context.hpp"
#include "net/tls_session.hpp"

namespace usher::upstream {

using namespace std::chrono_literals;

namespace {

bool status_expected(const config::HealthCheck& check, std::uint16_t status) {
    for (const auto& r : check.expected_statuses) {
        if (status >= r.low && status <= r.high) {
            return true;
        }
    }
    return false;
}

// The bytes of an HTTP check: the plain socket, or a client TLS session over it.
struct CheckStream {
    TcpSocket& socket;
    net::TlsSession* tls = nullptr;

    Task<asio::error_code> write(const std::string& data) {
        if (tls != nullptr) {
            const asio::const_buffer b(data.data(), data.size());
            co_return co_await tls->write(std::span(&b, 1));
        }
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(data), use_tuple);
        (void)n;
        co_return ec;
    }

    Task<std::pair<asio::error_code, std::size_t>> read_some(asio::mutable_buffer buffer) {
        if (tls != nullptr) {
            co_return co_await tls->read_some(buffer);
        }
        auto [ec, n] = co_await socket.async_read_some(buffer, use_tuple);
        co_return std::pair{ec, n};
    }
};

// Reads the response of an HTTP check (the request asked for Connection: close) and judges it.
Task<CheckResult> http_exchange(CheckStream& stream, const config::HealthCheck& check,
                                const SharedEndpoint& endpoint) {
    std::string request = check.method + " " + check.path + " HTTP/1.1\r\nHost: " +
                          (check.host.empty() ? endpoint.label : check.host) +
                          "\r\nUser-Agent: usher-health-check\r\nConnection: close\r\n\r\n";
    const auto wec = co_await stream.write(request);
    if (wec) {
        co_return CheckResult{false, "send: " + wec.message()};
    }
    std::string data;
    http::ResponseHead head;
    std::size_t head_size = 0;
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await stream.read_some(asio::buffer(buf));
        if (!ec) {
            data.append(buf, n);
        }
        if (head_size == 0) {
            auto r = http::h1::parse_response_head(data, {}, check.method, head);
            if (r.kind == http::h1::ParseResult::Kind::error) {
                co_return CheckResult{
                    false, std::string("invalid response: ") + std::string(r.error.reason)};
            }
            if (r.kind == http::h1::ParseResult::Kind::complete) {
                if (head.status < 200) {  // interim: drop it and wait for the final head
                    data.erase(0, r.consumed);
                    continue;
                }
                head_size = r.consumed;
                if (!status_expected(check, head.status)) {
                    co_return CheckResult{false, "status " + std::to_string(head.status)};
                }
                if (check.body_contains.empty()) {
                    co_return CheckResult{true, {}};
                }
            }
        }
        if (head_size != 0 && data.find(check.body_contains, head_size) != std::string::npos) {
            co_return CheckResult{true, {}};
        }
        // The body is complete when its framing says so; a server that ignores our
        // Connection: close must not make the check wait for its timeout.
        const bool body_done =
            head_size != 0 && (head.framing == http::BodyFraming::none ||
                               (head.framing == http::BodyFraming::content_length &&
                                data.size() - head_size >= head.content_length) ||
                               (head.framing == http::BodyFraming::chunked &&
                                data.find("\r\n0\r\n", head_size - 2) != std::string::npos &&
                                data.ends_with("\r\n\r\n")));
        if (ec || body_done || data.size() > limits::kHealthMaxBody + head_size) {
            if (head_size == 0) {
                co_return CheckResult{
                    false, ec ? "read: " + ec.message() : std::string("response head too large")};
            }
            co_return CheckResult{false, "body does not contain \"" + check.body_contains + "\""};
        }
    }
}

}  // namespace

HealthChecker::HealthChecker() = default;

HealthChecker::~HealthChecker() {
    stop();
}

void HealthChecker::add_cluster(const std::string& name, const config::HealthCheck& check,
                                const std::vector<SharedEndpoint>& endpoints,
                                std::shared_ptr<const net::TlsClientContext> tls) {
    checks_[name] = check;
    tls_[name] = std::move(tls);
    for (const auto& ep : endpoints) {
        add_target(name, check, ep);
    }
}

void HealthChecker::add_target(const std::string& name, const config::HealthCheck& check,
                               const SharedEndpoint& endpoint) {
    auto t = std::make_shared<Target>();
    t->cluster = name;
    t->check = check;
    t->endpoint = endpoint;  // shares the EndpointHealth with the snapshot
    if (const auto it = tls_.find(name); it != tls_.end()) {
        t->tls = it->second;
    }
    targets_.push_back(t);
    if (started_) {
        asio::co_spawn(io_, watch(std::move(t)), asio::detached);
    }
}

void HealthChecker::update_cluster(const std::string& name,
                                   const std::vector<SharedEndpoint>& endpoints) {
    auto check = checks_.find(name);
    if (check == checks_.end()) {
        return;
    }
    auto listed = [&](const EndpointHealth* h) {
        return std::any_of(endpoints.begin(), endpoints.end(),
                           [h](const SharedEndpoint& e) { return e.health.get() == h; });
    };
    std::erase_if(targets_, [&](const std::shared_ptr<Target>& t) {
        if (t->cluster != name || listed(t->endpoint.health.get())) {
            return false;
        }
        t->stopped = true;
        if (t->timer != nullptr) {
            t->timer->cancel();
        }
        return true;
    });
    for (const auto& ep : endpoints) {
        const bool watched = std::any_of(targets_.begin(), targets_.end(), [&](const auto& t) {
            return t->cluster == name && t->endpoint.health == ep.health;
        });
        if (!watched) {
            add_target(name, check->second, ep);
        }
    }
}

void HealthChecker::spawn(Task<void> task) {
    tasks_.push_back(std::move(task));
}

void HealthChecker::start() {
    if (empty() || started_) {
        return;
    }
    started_ = true;
    for (auto& t : targets_) {
        asio::co_spawn(io_, watch(t), asio::detached);
    }
    for (auto& task : tasks_) {
        asio::co_spawn(io_, std::move(task), asio::detached);
    }
    tasks_.clear();
    thread_ = std::thread([this] {
        log::set_worker_id(-1);
        try {
            io_.run();
        } catch (const std::exception& e) {
            log::error("health checker stopped: {}", e.what());
        }
    });
}

void HealthChecker::stop() {
    io_.stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Task<CheckResult> HealthChecker::check_once(const config::HealthCheck& check,
                                            const SharedEndpoint& endpoint,
                                            const net::TlsClientContext* tls) {
    using namespace asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    TcpSocket socket(ex);
    SteadyTimer timer(ex);
    timer.expires_after(check.timeout);
    auto attempt = [&]() -> Task<CheckResult> {
        auto [ec] = co_await socket.async_connect(endpoint.address, use_tuple);
        if (ec) {
            co_return CheckResult{false, "connect: " + ec.message()};
        }
        if (check.kind == config::HealthCheckKind::tcp) {
            co_return CheckResult{true, {}};
        }
        if (tls == nullptr) {
            CheckStream stream{socket};
            co_return co_await http_exchange(stream, check, endpoint);
        }
        net::TlsSession session(socket, *tls, tls->peer_name(endpoint.label));
        if (const auto hec = co_await session.handshake()) {
            co_return CheckResult{false, "tls: " + hec.message()};
        }
        CheckStream stream{socket, &session};
        auto result = co_await http_exchange(stream, check, endpoint);
        co_await session.shutdown();
        co_return result;
    };
    auto result = co_await (attempt() || timer.async_wait(use_tuple));
    if (result.index() == 1) {
        co_return CheckResult{false, "timed out"};
    }
    co_return std::get<0>(std::move(result));
}

Task<void> HealthChecker::watch(std::shared_ptr<Target> target) {
    auto& t = *target;
    std::minstd_rand rng(static_cast<std::uint32_t>(std::hash<std::string>{}(t.endpoint.label)));
    SteadyTimer timer(co_await asio::this_coro::executor);
    t.timer = &timer;
    auto& health = *t.endpoint.health;
    while (!t.stopped) {
        auto result = co_await check_once(t.check, t.endpoint, t.tls.get());
        if (t.stopped) {
            break;  // the endpoint was removed while its check ran
        }
        health.checks.fetch_add(1, std::memory_order_relaxed);
        bool healthy = health.healthy.load(std::memory_order_relaxed);
        if (result.ok) {
            t.failures = 0;
            ++t.successes;
            if (!healthy && t.successes >= t.check.healthy_threshold) {
                health.healthy.store(true, std::memory_order_relaxed);
                health.mark_ready();  // slow start ramps it back in
                health.transitions.fetch_add(1, std::memory_order_relaxed);
                log::info("health: {} endpoint {} is healthy again", t.cluster, t.endpoint.label);
            }
        } else {
            health.check_failures.fetch_add(1, std::memory_order_relaxed);
            t.successes = 0;
            ++t.failures;
            if (healthy && t.failures >= t.check.unhealthy_threshold) {
                health.healthy.store(false, std::memory_order_relaxed);
                health.transitions.fetch_add(1, std::memory_order_relaxed);
                log::warn("health: {} endpoint {} is unhealthy: {}", t.cluster, t.endpoint.label,
                          result.reason);
            }
        }
        auto jitter_ms = t.check.jitter.count() > 0
                             ? std::uniform_int_distribution<long>(0, t.check.jitter.count())(rng)
                             : 0L;
        timer.expires_after(t.check.interval + std::chrono::milliseconds(jitter_ms));
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec) {
            break;
        }
    }
    t.timer = nullptr;
}

}  // namespace usher::upstream
