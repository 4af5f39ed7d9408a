#include "proxy/downstream.hpp"

#include "proxy/h2_stream.hpp"

namespace usher::proxy {

Downstream::Downstream(const Downstream& conn, H2Stream& stream)
    : worker(conn.worker),
      socket(conn.socket),
      listener(conn.listener),
      watchdog(conn.socket.get_executor()),
      remote(conn.remote),
      remote_text(conn.remote_text),
      h2(&stream),
      client_subject(conn.client_subject),
      mtls(conn.mtls) {
    watchdog.watch(nullptr, nullptr);  // the connection's socket is not this stream's to cancel
    watchdog.watch_waiter(&stream.wake);
}

Downstream::Downstream(WorkerContext& w, TcpSocket& s, const ListenerInfo& l)
    : worker(w), socket(s), listener(l), watchdog(socket.get_executor()) {
    asio::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) {
        remote = ep.address();
        if (remote.is_v6() && remote.to_v6().is_v4_mapped()) {
            remote = asio::ip::make_address_v4(asio::ip::v4_mapped, remote.to_v6());
        }
        remote_text = remote.to_string();
    }
    watchdog.watch(&socket, nullptr);
}

Task<asio::error_code> Downstream::read_some(std::chrono::milliseconds timeout,
                                             net::TimeoutCause cause) {
    return read_some_until(timeout.count() > 0 ? net::Watchdog::Clock::now() + timeout
                                               : net::Watchdog::Clock::time_point::max(),
                           cause);
}

Task<asio::error_code> Downstream::read_some_until(net::Watchdog::Clock::time_point deadline,
                                                   net::TimeoutCause cause) {
    worker.buffers.acquire(in);
    char* space = in.space();
    if (in.space_size() == 0) {
        co_return asio::error::no_buffer_space;
    }
    watchdog.arm_until(deadline, cause);
    auto [ec, n] = co_await read_into(asio::buffer(space, in.space_size()));
    watchdog.disarm();
    if (!ec) {
        in.commit(n);
    }
    co_return ec;
}

Task<std::pair<asio::error_code, std::size_t>> Downstream::read_into(asio::mutable_buffer buffer) {
    if (tls) {
        co_return co_await tls->read_some(buffer);
    }
    auto [ec, n] = co_await socket.async_read_some(buffer, use_tuple);
    co_return std::pair{ec, n};
}

Task<void> Downstream::shutdown_send() {
    if (tls) {
        co_await tls->shutdown();
    }
    asio::error_code ignored;
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
}

}  // namespace usher::proxy
