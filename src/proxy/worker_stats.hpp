#pragma once
// WorkerStats: what the data path reports to the metrics and status of the admin API (issue 7).
// One instance per worker, called only on that worker's thread (no atomics on the hot path);
// the admin side sums the workers' counters at scrape time. The admin layer implements it (a
// higher layer than proxy/), so the proxy only sees this interface; WorkerContext::stats may be
// null (tests, no admin listener).
#include <string_view>

#include "proxy/access_log.hpp"

namespace usher::proxy {

struct ListenerInfo;

class WorkerStats {
  public:
    virtual ~WorkerStats() = default;
    // One finished exchange (local reply or proxied), with what the access log sees.
    virtual void on_request(const ListenerInfo& listener, const AccessEntry& entry) noexcept = 0;
    // A client connection accepted / closed on `listener`.
    virtual void on_connection_open(const ListenerInfo& listener) noexcept = 0;
    virtual void on_connection_close(const ListenerInfo& listener) noexcept = 0;
    // A TLS handshake with a client finished (ok) or failed/timed out.
    virtual void on_tls_handshake(const ListenerInfo& listener, bool ok) noexcept = 0;
    // An upstream connection was taken from the pool (reused) or a new one was opened.
    virtual void on_upstream_connection(std::string_view cluster, bool reused) noexcept = 0;
};

}  // namespace usher::proxy
