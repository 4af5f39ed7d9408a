#pragma once
// What one worker thread owns and every connection on it shares: its io_context, buffer pools,
// runtime clusters (pools + balancer state), the routing table of the current config snapshot,
// its access log and its drain state. Never touched by another thread (DESIGN.md principle 1).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/asio.hpp"
#include "core/buffer.hpp"
#include "net/listener.hpp"
#include "net/park_poller.hpp"
#include "net/tls_context.hpp"
#include "proxy/idle_list.hpp"
#include "proxy/router.hpp"
#include "upstream/cluster.hpp"
#include "upstream/shared_cluster.hpp"

namespace usher::proxy {

class AccessLog;
class ClientConnection;
class WorkerStats;

struct ListenerInfo {
    std::string name;
    std::string address;  // "127.0.0.1:8080"
    // TLS listeners: the context every worker's TlsSession starts from (built once at start-up,
    // immutable, shared); nullptr for plain listeners.
    std::shared_ptr<const net::TlsServerContext> tls;
    // Plain listeners: answer every request with a 308 to https:// (port 443 is left out).
    bool redirect_to_https = false;
    std::uint16_t redirect_https_port = 443;
    std::string hsts;     // TLS listeners: the Strict-Transport-Security value; "" = none
    config::Http2 http2;  // HTTP/2 settings (TLS: ALPN h2; plain: h2c when http2.h2c)
};

// The immutable, cross-worker part of a config snapshot.
struct Snapshot {
    config::ConfigPtr config;
    std::shared_ptr<const Router> router;
    net::CidrSet trusted_proxies;
    // cluster name -> its resolved endpoints (a hostname with several addresses gives several),
    // each with the process-wide health state, and its circuit breaker counters.
    std::map<std::string, upstream::SharedCluster> clusters;
};
using SnapshotPtr = std::shared_ptr<const Snapshot>;

struct WorkerContext {
    explicit WorkerContext(int id_) : id(id_) {}
    int id;
    asio::io_context* io = nullptr;
    SnapshotPtr snapshot;
    // route index -> this worker's cluster for it (nullptr for redirect/respond routes).
    std::vector<upstream::Cluster*> route_clusters;
    std::vector<std::unique_ptr<upstream::Cluster>> clusters;
    BufferPool buffers{limits::kIoBufferSize};
    AccessLog* access_log = nullptr;
    WorkerStats* stats = nullptr;  // metrics of the admin API (may be null)

    // Live client connections, for draining: idle ones are closed at once, busy ones after
    // their current exchange.
    std::vector<ClientConnection*> connections;
    bool draining = false;
    std::uint64_t active_connections = 0;
    // Keep-alive connections waiting for their next request with a read buffer attached ("hot
    // idle", see ClientConnection::run), at most limits::kMaxHotIdlePerWorker.
    std::uint32_t hot_idle = 0;
    // Parked keep-alive connections (no session, no coroutine): their deadlines and the timer
    // that closes them, and the epoll set that holds their descriptors (made on first use).
    IdleList idle;
    std::unique_ptr<net::ParkPoller> park;
};

}  // namespace usher::proxy
