#pragma once
// The one place that picks Asio's types for usher: a concrete io_context executor everywhere
// (no type-erased any_io_executor on the hot path), coroutines that return errors as values.
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <string_view>

namespace usher {

using Executor = asio::io_context::executor_type;
template <class T = void>
using Task = asio::awaitable<T, Executor>;
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, Executor>;

// Completion token: `auto [ec, n] = co_await s.async_read_some(b, use_tuple);`
inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable_t<Executor>{});
inline constexpr asio::use_awaitable_t<Executor> use_task{};

// A read-only buffer over any bytes (gather writes mix heads, body slices and literals).
inline asio::const_buffer cbuf(std::string_view s) noexcept {
    return {s.data(), s.size()};
}

}  // namespace usher
