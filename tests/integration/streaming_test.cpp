// Bodies streamed both ways with back-pressure: chunked in and out (trailers kept), re-framing of
// close-delimited responses, truncation made visible, 1 GiB each way in bounded memory, a slow
// reader, and a WebSocket tunnel.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.hpp"

namespace usher::test {
namespace {

std::string config(const std::string& backend) {
    return cluster_config(backend);
}

TEST(Streaming, ChunkedRequestArrivesChunkedWithTrailers) {
    std::string seen_head;
    std::mutex mu;
    FakeBackend backend([&](int fd, int) {
        // Read the raw bytes up to the end of the chunked body to see its exact framing.
        auto raw = read_until(fd, [](const std::string& s) {
            return s.find("\r\n0\r\n") != std::string::npos && s.ends_with("\r\n\r\n") &&
                   s.find("\r\n\r\n") != s.size() - 4;
        });
        {
            std::lock_guard lock(mu);
            seen_head = raw;
        }
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd,
             "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"
             "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n");
    auto bytes = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->status(), 200);
    std::lock_guard lock(mu);
    EXPECT_NE(seen_head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << seen_head;
    EXPECT_EQ(seen_head.find("Content-Length"), std::string::npos);
    EXPECT_NE(seen_head.find("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"),
              std::string::npos)
        << "extensions dropped, data and trailers kept: " << seen_head;
}

TEST(Streaming, ChunkedResponseStreamsWithTrailers) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                     "3\r\nabc\r\n");
            std::this_thread::sleep_for(50ms);
            send_all(fd, "4;x=y\r\ndefg\r\n0\r\nX-Sum: 7\r\n\r\n");
        }
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto bytes = read_until(fd, [](const std::string& s) { return parse_response(s).has_value(); });
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->body, "abcdefg");
    EXPECT_EQ(m->header("transfer-encoding").value_or(""), "chunked");
    EXPECT_NE(bytes.find("0\r\nX-Sum: 7\r\n\r\n"), std::string::npos) << bytes;
}

TEST(Streaming, CloseDelimitedResponseIsReframedAsChunkedForHttp11) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
        }
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    CurlClient client;
    auto r1 = client.get(usher.url("/a"));
    auto r2 = client.get(usher.url("/b"));
    EXPECT_EQ(r1.body, "until the end");
    EXPECT_EQ(r2.body, "until the end");
    EXPECT_NE(r1.headers.find("Transfer-Encoding: chunked"), std::string::npos) << r1.headers;
    EXPECT_EQ(client.connects(), 1) << "the client connection survives a close-delimited backend";
}

TEST(Streaming, BackendClosingMidBodyIsATruncatedTransfer) {
    FakeBackend cl([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(500, 'x'));
        }
    });
    FakeBackend chunked([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        }
    });
    UsherProcess a(config(cl.address()));
    UsherProcess b(config(chunked.address()));
    ASSERT_TRUE(a.started() && b.started());
    auto r = curl_request(a.url("/"));
    EXPECT_EQ(r.curl_code, 18) << "CURLE_PARTIAL_FILE";
    EXPECT_EQ(r.body.size(), 500u);
    auto c = curl_request(b.url("/"));
    EXPECT_NE(c.curl_code, 0) << "a chunked body without its last chunk must not look complete";
}

constexpr std::uint64_t kGiB = 1024ull * 1024 * 1024;
// A gigabyte through usher may grow its memory by its buffers and socket queues, not by the body.
constexpr long kStreamingGrowthKiB = 32 * 1024;

TEST(Streaming, OneGiBDownloadWithSlowStartReaderInBoundedMemory) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        if (read_request(fd, buf)) {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kGiB) + "\r\n\r\n");
            std::string block(1 << 20, 'd');
            for (std::uint64_t sent = 0; sent < kGiB; sent += block.size()) {
                if (!send_all(fd, block)) {
                    return;
                }
            }
        }
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    const long rss_at_start = usher.rss_kib();
    int fd = connect_to(usher.port());
    send_all(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    // Slow reader first: read nothing for a second while the backend pushes.
    std::this_thread::sleep_for(1s);
    long rss_while_stalled = usher.rss_kib();
    std::uint64_t total = 0;
    std::string head;
    char chunk[1 << 16];
    bool in_body = false;
    for (;;) {
        auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            break;
        }
        if (!in_body) {
            head.append(chunk, static_cast<std::size_t>(n));
            auto end = head.find("\r\n\r\n");
            if (end != std::string::npos) {
                in_body = true;
                total += head.size() - end - 4;
            }
        } else {
            total += static_cast<std::uint64_t>(n);
        }
        if (total >= kGiB) {
            break;
        }
    }
    ::close(fd);
    EXPECT_EQ(total, kGiB);
    // Growth over the idle process, not an absolute figure: the sanitizer build starts far larger.
    EXPECT_LT(rss_while_stalled - rss_at_start, kStreamingGrowthKiB)
        << "KiB grown while the client did not read (at start " << rss_at_start << ")";
    EXPECT_LT(usher.rss_peak_kib() - rss_at_start, kStreamingGrowthKiB)
        << "peak RSS growth in KiB (at start " << rss_at_start << ")";
}

TEST(Streaming, OneGiBUploadInBoundedMemory) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        auto head_end = std::string::npos;
        char chunk[1 << 16];
        while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return;
            }
            buf.append(chunk, static_cast<std::size_t>(n));
        }
        std::uint64_t got = buf.size() - head_end - 4;
        while (got < kGiB) {
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return;
            }
            got += static_cast<std::uint64_t>(n);
        }
        auto body = std::to_string(got);
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\n\r\n" + body);
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    const long rss_at_start = usher.rss_kib();
    int fd = connect_to(usher.port());
    send_all(
        fd, "PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(kGiB) + "\r\n\r\n");
    std::string block(1 << 20, 'u');
    for (std::uint64_t sent = 0; sent < kGiB; sent += block.size()) {
        ASSERT_TRUE(send_all(fd, block)) << "after " << sent;
    }
    auto bytes = read_until(
        fd, [](const std::string& s) { return parse_response(s).has_value(); }, 30s);
    ::close(fd);
    auto m = parse_response(bytes);
    ASSERT_TRUE(m) << bytes;
    EXPECT_EQ(m->body, std::to_string(kGiB));
    EXPECT_LT(usher.rss_peak_kib() - rss_at_start, kStreamingGrowthKiB)
        << "peak RSS growth in KiB (at start " << rss_at_start << ")";
}

TEST(Streaming, WebSocketUpgradeBecomesATwoWayTunnel) {
    FakeBackend backend([](int fd, int) {
        std::string buf;
        auto req = read_request(fd, buf);
        if (!req || req->header("upgrade").value_or("") != "websocket" ||
            req->header("connection").value_or("").find("pgrade") == std::string::npos) {
            send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        send_all(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n");
        // Echo every byte back until the client closes.
        char chunk[4096];
        for (;;) {
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return;
            }
            send_all(fd, std::string_view(chunk, static_cast<std::size_t>(n)));
        }
    });
    UsherProcess usher(config(backend.address()));
    ASSERT_TRUE(usher.started());
    int fd = connect_to(usher.port());
    send_all(fd,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    auto head = read_until(
        fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
    ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
    EXPECT_NE(head.find("Upgrade: websocket"), std::string::npos);
    for (const std::string& msg :
         std::vector<std::string>{"\x81\x05hello", "\x81\x05world", std::string(100000, 'z')}) {
        send_all(fd, msg);
        auto echo = read_until(fd, [&](const std::string& s) { return s.size() >= msg.size(); });
        EXPECT_EQ(echo, msg);
    }
    ::shutdown(fd, SHUT_WR);
    EXPECT_TRUE(closed_by_peer(fd, 5s)) << "the tunnel passes the close through";
    ::close(fd);
}

}  // namespace
}  // namespace usher::test
