#pragma once
// AdminServer: the admin listener. Its own thread and io_context (never a worker's), one
// connection at a time per coroutine: reads one request with the strict HTTP/1 parser (head up
// to 16 KiB, body up to 64 KiB, the whole exchange within 10 s), answers it through AdminApi,
// and closes the connection (`Connection: close`; the dashboard polls once a second).
// Started by the server after the workers, stopped after they drained (so /ready says 503
// while draining).
#include <memory>
#include <string>
#include <thread>

#include "admin/admin_api.hpp"
#include "config/config.hpp"
#include "core/asio.hpp"

namespace usher::admin {

class AdminServer {
  public:
    AdminServer(AdminState& state, const config::Admin& cfg);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Binds the listen address; returns the error (e.g. address in use) without starting.
    std::error_code open(std::string& failed);
    // "127.0.0.1:9901" (the real port when configured as 0), after open().
    std::string address() const;
    void start();
    void stop();

  private:
    Task<void> accept_loop();
    Task<void> serve(TcpSocket accepted);

    AdminApi api_;
    config::Admin cfg_;
    asio::io_context io_{1};
    TcpAcceptor acceptor_{io_.get_executor()};
    std::thread thread_;
};

}  // namespace usher::admin
