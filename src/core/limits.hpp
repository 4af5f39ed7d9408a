#pragma once
// Every default size, count and timeout of usher, in one place. docs/config.md quotes these;
// change both together.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace usher::limits {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// Timeouts (issue 3, item 7). Zero means "no limit" where a field allows it.
inline constexpr milliseconds kConnectTimeout = 5s;          // upstream connect -> 502/503
inline constexpr milliseconds kRequestHeaderTimeout = 10s;   // client head read -> 408
inline constexpr milliseconds kClientIdleTimeout = 60s;      // keep-alive idle -> silent close
inline constexpr milliseconds kUpstreamHeaderTimeout = 60s;  // upstream response head -> 504
inline constexpr milliseconds kUpstreamIdleTimeout = 60s;    // between body bytes -> abort
inline constexpr milliseconds kTotalTimeout = 0s;            // whole exchange; 0 = none
inline constexpr milliseconds kDrainTimeout = 30s;           // graceful shutdown
inline constexpr milliseconds kClientBodyIdleTimeout = 60s;  // between client body bytes

// HTTP/1.1 parsing limits.
inline constexpr std::size_t kMaxRequestLine = 8 * 1024;   // -> 414
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;  // -> 431
inline constexpr std::size_t kMaxHeaderCount = 100;        // -> 431
inline constexpr std::uint64_t kMaxBodyBytes = 0;          // per route; 0 = unlimited (-> 413)

// Listeners.
inline constexpr int kListenBacklog = 1024;
inline constexpr std::size_t kMaxConnectionsPerListener = 0;  // 0 = unlimited
inline constexpr milliseconds kAcceptBackoff = 100ms;         // after EMFILE/ENFILE

// Upstream keep-alive pool (per worker, per endpoint).
inline constexpr std::size_t kPoolMaxIdle = 64;
inline constexpr milliseconds kPoolIdleTimeout = 60s;
inline constexpr std::uint64_t kPoolMaxRequests = 0;  // per connection; 0 = unlimited
// A request that must not be sent twice (POST, PATCH, ... without retry.non_idempotent) only
// reuses a connection idle for less than this: it is not retried if the backend closed it.
inline constexpr milliseconds kPoolNonIdempotentMaxIdle = 2s;

// Active health checks (per cluster, when configured).
inline constexpr milliseconds kHealthInterval = 5s;
inline constexpr milliseconds kHealthJitter = 500ms;  // random 0..jitter added to each interval
inline constexpr milliseconds kHealthTimeout = 2s;
inline constexpr std::uint64_t kHealthyThreshold = 2;     // successes to become healthy again
inline constexpr std::uint64_t kUnhealthyThreshold = 3;   // failures to become unhealthy
inline constexpr std::size_t kHealthMaxBody = 64 * 1024;  // bytes read for body_contains

// Load balancing.
inline constexpr milliseconds kPeakEwmaDecay = 10s;  // peak_ewma latency decay time

// Passive health (outlier detection), when a cluster configures it.
inline constexpr std::uint64_t kOutlierConsecutiveFailures = 5;
inline constexpr milliseconds kOutlierBaseEjection = 30s;
inline constexpr milliseconds kOutlierMaxEjection = 300s;
inline constexpr std::uint64_t kOutlierMaxEjectedPercent = 50;

// Retries (per route, when `retry` is configured) and the per-cluster retry budget.
inline constexpr std::uint64_t kRetries = 2;
inline constexpr milliseconds kRetryBackoff = 25ms;
inline constexpr milliseconds kRetryMaxBackoff = 250ms;
inline constexpr std::uint64_t kRetryMaxBody = 64 * 1024;  // bodies held for replay
inline constexpr std::uint64_t kRetryBudgetPercent = 20;
inline constexpr std::uint64_t kRetryBudgetMinRetries = 3;

// DNS: hostnames of endpoints are re-resolved this often.
inline constexpr milliseconds kResolveInterval = 30s;

// TLS listeners (issue 5).
inline constexpr milliseconds kTlsHandshakeTimeout = 10s;  // accept -> handshake done, else close
// Session-ticket keys: a new one this often; the previous one still decrypts.
inline constexpr milliseconds kTlsTicketKeyRotation = 12h;
inline constexpr std::size_t kTlsSessionCacheSize = 20 * 1024;   // server session cache entries
inline constexpr std::chrono::seconds kTlsSessionLifetime = 1h;  // session/ticket lifetime
inline constexpr int kTlsVerifyDepth = 5;                        // client certificate chain depth
inline constexpr std::chrono::seconds kHstsMaxAge = 365 * 24h;   // hsts.max_age (1 year)

// Buffers.
inline constexpr std::size_t kIoBufferSize = 16 * 1024;  // one read/write chunk
// A keep-alive connection that already served two requests waits for the next one with a read
// buffer attached for up to kHotIdle (one recv when it arrives, where a buffer-less readiness
// wait costs an extra epoll_ctl per request), at most kMaxHotIdlePerWorker connections at once
// (4 MiB of buffers); then it gives the buffer back and waits without one.
inline constexpr std::chrono::milliseconds kHotIdle{1000};
inline constexpr std::uint32_t kMaxHotIdlePerWorker = 256;

// Access log: per-worker buffer flushed when full or every flush interval.
inline constexpr std::size_t kAccessLogBuffer = 64 * 1024;
inline constexpr milliseconds kAccessLogFlushInterval = 1s;

// HTTP/2 to clients (issue 5): SETTINGS we advertise and the per-connection defences.
inline constexpr std::uint32_t kH2MaxConcurrentStreams = 100;
inline constexpr std::uint32_t kH2InitialStreamWindow = 64 * 1024;  // request body per stream
inline constexpr std::uint32_t kH2ConnectionWindow = 1024 * 1024;   // request bodies, all streams
inline constexpr std::uint32_t kH2MaxFrameSize = 16 * 1024;
inline constexpr std::uint32_t kH2MaxHeaderListSize = 64 * 1024;  // decoded, RFC 9113 6.5.2
inline constexpr std::uint32_t kH2HeaderTableSize = 4096;         // HPACK dynamic table
inline constexpr std::uint32_t kH2MaxContinuations = 8;  // CONTINUATION frames per header block
// A header block decoding to this many times max_header_list_size is an HPACK bomb: the
// connection ends (GOAWAY ENHANCE_YOUR_CALM) instead of decoding on for a 431.
inline constexpr std::size_t kH2BombFactor = 16;
// Client resets of streams whose request already reached the proxy (rapid reset): a token bucket
// of this burst, refilled per second and by one for each stream that completes normally.
inline constexpr std::uint32_t kH2ResetBurst = 200;
inline constexpr std::uint32_t kH2ResetPerSecond = 20;
// Frames that do no work (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA/HEADERS/
// CONTINUATION, oversized header blocks): a token bucket refilled per second and by
// kH2FloodCreditPerWork for each stream opened or DATA frame sent or received.
inline constexpr std::uint32_t kH2FloodBurst = 1000;
inline constexpr std::uint32_t kH2FloodPerSecond = 100;
inline constexpr std::uint32_t kH2FloodCreditPerWork = 2;
inline constexpr std::size_t kH2MaxOutboundAck = 1000;        // queued SETTINGS/PING acks
inline constexpr std::size_t kH2OutputHighWater = 64 * 1024;  // encoded bytes ahead of the socket
// Response bytes an HTTP/2 exchange queues for its stream before it stops reading its backend
// (the client's flow-control window decides when they leave).
inline constexpr std::size_t kH2StreamSendHighWater = 64 * 1024;

}  // namespace usher::limits
