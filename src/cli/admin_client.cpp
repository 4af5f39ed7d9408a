#include "cli/admin_client.hpp"

#include "config/syntax.hpp"
#include "core/asio.hpp"
#include "http/h1/parser.hpp"
#include "net/listener.hpp"

namespace usher::cli {
namespace {

Task<void> exchange(const asio::ip::tcp::endpoint& ep, std::string request, AdminReply& reply) {
    TcpSocket socket(co_await asio::this_coro::executor);
    auto [cec] = co_await socket.async_connect(ep, use_tuple);
    if (cec) {
        reply.error = cec.message();
        co_return;
    }
    auto [wec, written] = co_await asio::async_write(socket, asio::buffer(request), use_tuple);
    if (wec) {
        reply.error = wec.message();
        co_return;
    }
    std::string in;
    for (;;) {
        char buf[4096];
        auto [rec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
        in.append(buf, n);
        if (rec) {
            break;  // eof (the server closes after its response) or an error
        }
        if (in.size() > 16 * 1024 * 1024) {
            reply.error = "response too large";
            co_return;
        }
    }
    http::ResponseHead head;
    const auto parsed = http::h1::parse_response_head(in, {}, "POST", head);
    if (!parsed.ok()) {
        reply.error =
            in.empty() ? "connection closed without a response" : "malformed HTTP response";
        co_return;
    }
    reply.status = head.status;
    reply.body = in.substr(parsed.consumed);
}

}  // namespace

AdminReply admin_request(const std::string& address, std::string_view method, std::string_view path,
                         const std::string& token, std::chrono::milliseconds timeout) {
    AdminReply reply;
    std::string why;
    const auto parsed = config::parse_socket_address(address, false, &why);
    if (!parsed) {
        reply.error = "bad admin address \"" + address + "\": " + why;
        return reply;
    }
    std::vector<asio::ip::tcp::endpoint> eps;
    try {
        eps = net::resolve(*parsed);
    } catch (const std::exception& e) {
        reply.error = e.what();
        return reply;
    }
    if (eps.empty()) {
        reply.error = "cannot resolve " + address;
        return reply;
    }
    std::string request(method);
    request.append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(address);
    if (!token.empty()) {
        request.append("\r\nAuthorization: Bearer ").append(token);
    }
    request.append("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    asio::io_context io(1);
    asio::co_spawn(io, exchange(eps.front(), std::move(request), reply), asio::detached);
    io.run_for(timeout);
    if (!io.stopped()) {
        reply = {};
        reply.error = "timed out";
    }
    return reply;
}

}  // namespace usher::cli
