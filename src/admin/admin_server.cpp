#include "admin/admin_server.hpp"

#include "admin/json_writer.hpp"
#include "core/log.hpp"
#include "http/h1/parser.hpp"
#include "net/listener.hpp"

namespace usher::admin {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxHead = 16 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024;
constexpr auto kExchangeTimeout = 10s;

std::string render(const AdminResponse& r, bool head_only) {
    std::string out = "HTTP/1.1 ";
    out.append(std::to_string(r.status))
        .append(" ")
        .append(http::reason_phrase(static_cast<std::uint16_t>(r.status)))
        .append("\r\nContent-Type: ")
        .append(r.content_type)
        .append("\r\nContent-Length: ")
        .append(std::to_string(r.body.size()))
        .append("\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
    if (!r.allow.empty()) {
        out.append("Allow: ").append(r.allow).append("\r\n");
    }
    if (r.www_authenticate) {
        out.append("WWW-Authenticate: Bearer realm=\"usher admin\"\r\n");
    }
    out.append("Connection: close\r\n\r\n");
    if (!head_only) {
        out.append(r.body);
    }
    return out;
}

}  // namespace

AdminServer::AdminServer(AdminState& state, const config::Admin& cfg)
    : api_(state, cfg.token), cfg_(cfg) {}

AdminServer::~AdminServer() {
    stop();
}

std::error_code AdminServer::open(std::string& failed) {
    failed = cfg_.listen.to_string();
    std::vector<asio::ip::tcp::endpoint> eps;
    try {
        eps = net::resolve(cfg_.listen);
    } catch (const std::exception&) {
        return std::make_error_code(std::errc::address_not_available);
    }
    if (eps.empty()) {
        return std::make_error_code(std::errc::address_not_available);
    }
    return net::open_listener(acceptor_, eps.front(), 64);
}

std::string AdminServer::address() const {
    asio::error_code ec;
    const auto ep = acceptor_.local_endpoint(ec);
    if (ec) {
        return cfg_.listen.to_string();
    }
    const auto host = ep.address().to_string();
    return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

void AdminServer::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] {
        log::set_worker_id(-1);
        try {
            io_.run();
        } catch (const std::exception& e) {
            log::error("admin listener stopped: {}", e.what());
        }
    });
}

void AdminServer::stop() {
    io_.stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Task<void> AdminServer::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
                co_return;
            }
            SteadyTimer backoff(io_.get_executor(), 100ms);  // e.g. out of file descriptors
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

Task<void> AdminServer::serve(TcpSocket accepted) {
    // One deadline for the whole exchange: a slow or silent client is cut off. The timer's
    // handler shares the socket, so it may run after this coroutine ended.
    auto shared = std::make_shared<TcpSocket>(std::move(accepted));
    TcpSocket& socket = *shared;
    SteadyTimer deadline(io_.get_executor(), kExchangeTimeout);
    deadline.async_wait([shared](const asio::error_code& ec) {
        if (!ec) {
            asio::error_code ignored;
            shared->close(ignored);
        }
    });
    std::string buffer;
    http::RequestHead head;
    const http::h1::ParserLimits limits{.max_request_line = 8 * 1024, .max_header_bytes = kMaxHead};
    AdminResponse response;
    bool head_only = false;
    for (;;) {
        const auto parsed = http::h1::parse_request_head(buffer, limits, head);
        if (parsed.kind == http::h1::ParseResult::Kind::error) {
            response = {.status = parsed.error.status, .body = json_error(parsed.error.reason)};
            break;
        }
        if (parsed.kind == http::h1::ParseResult::Kind::complete) {
            head_only = head.method == "HEAD";
            if (head.framing == http::BodyFraming::chunked) {
                response = {.status = 411, .body = json_error("send a Content-Length body")};
                break;
            }
            if (head.framing == http::BodyFraming::content_length &&
                head.content_length > kMaxBody) {
                response = {.status = 413, .body = json_error("body too large")};
                break;
            }
            // The admin API takes no request bodies; read (and drop) one that was sent anyway,
            // so closing the socket does not reset the response.
            const std::size_t want =
                parsed.consumed +
                static_cast<std::size_t>(
                    head.framing == http::BodyFraming::content_length ? head.content_length : 0);
            while (buffer.size() < want) {
                char chunk[4096];
                auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
                if (ec) {
                    deadline.cancel();
                    co_return;
                }
                buffer.append(chunk, n);
            }
            AdminRequest req{.method = std::string(head.method),
                             .target = std::string(head.target)};
            if (const auto* auth = head.headers.find("authorization")) {
                req.authorization = std::string(auth->value);
            }
            response = api_.handle(req);
            break;
        }
        char chunk[4096];
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
        if (ec) {
            deadline.cancel();
            co_return;
        }
        buffer.append(chunk, n);
    }
    const std::string out = render(response, head_only);
    co_await asio::async_write(socket, asio::buffer(out), use_tuple);
    asio::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
    deadline.cancel();
    socket.close(ignored);
}

}  // namespace usher::admin
