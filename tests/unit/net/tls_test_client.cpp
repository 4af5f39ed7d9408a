#include "unit/net/tls_test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace usher::test {
namespace {

std::string last_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

std::string subject_cn(X509* cert) {
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    return buf;
}

}  // namespace

ClientResult run_client(std::uint16_t port, const ClientOptions& o) {
    ClientResult r;
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (o.legacy) {
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
    }
    if (!o.ciphers.empty()) {
        SSL_CTX_set_cipher_list(ctx, (o.ciphers + (o.legacy ? ":@SECLEVEL=0" : "")).c_str());
    }
    if (o.min_version != 0) {
        SSL_CTX_set_min_proto_version(ctx, o.min_version);
    }
    if (o.max_version != 0) {
        SSL_CTX_set_max_proto_version(ctx, o.max_version);
    }
    if (!o.cert.empty()) {
        SSL_CTX_use_certificate_file(ctx, o.cert.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM);
    }
    SSL* ssl = SSL_new(ctx);
    if (!o.sni.empty()) {
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(o.sni.c_str()));
    }
    if (!o.alpn.empty()) {
        std::string wire;
        for (const auto& p : o.alpn) {
            wire.push_back(static_cast<char>(p.size()));
            wire += p;
        }
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }
    if (o.request_ocsp) {
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE, TLSEXT_STATUSTYPE_ocsp, nullptr);
    }
    if (!o.session.empty()) {
        const auto* p = reinterpret_cast<const unsigned char*>(o.session.data());
        SSL_SESSION* sess = d2i_SSL_SESSION(nullptr, &p, static_cast<long>(o.session.size()));
        SSL_set_session(ssl, sess);
        SSL_SESSION_free(sess);
    }

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        r.error = "connect failed";
    } else {
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) == 1) {
            r.handshake_ok = true;
            if (X509* peer = SSL_get0_peer_certificate(ssl)) {
                r.server_cn = subject_cn(peer);
            }
            const unsigned char* alpn = nullptr;
            unsigned alpn_len = 0;
            SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
            r.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
            r.version = SSL_get_version(ssl);
            r.reused = SSL_session_reused(ssl) == 1;
            const unsigned char* ocsp = nullptr;
            const long ocsp_len = SSL_ctrl(ssl, SSL_CTRL_GET_TLSEXT_STATUS_REQ_OCSP_RESP, 0, &ocsp);
            if (ocsp != nullptr && ocsp_len > 0) {
                r.ocsp.assign(reinterpret_cast<const char*>(ocsp),
                              static_cast<std::size_t>(ocsp_len));
            }
            if (!o.send.empty() &&
                SSL_write(ssl, o.send.data(), static_cast<int>(o.send.size())) > 0) {
                char buf[4096];
                const std::size_t want = o.expect_bytes != 0 ? o.expect_bytes : o.send.size();
                while (r.echoed.size() < want) {
                    const int n = SSL_read(ssl, buf, sizeof buf);
                    if (n <= 0) {
                        r.error = "read: " + last_error();
                        break;
                    }
                    r.echoed.append(buf, static_cast<std::size_t>(n));
                }
                r.echo_ok = r.echoed == o.send;
            } else if (!o.send.empty()) {
                r.error = "write: " + last_error();
            }
            if (o.wait_for_close) {
                char buf[256];
                while (SSL_read(ssl, buf, sizeof buf) > 0) {
                }
            }
            if (SSL_SESSION* sess = SSL_get1_session(ssl)) {
                unsigned char* der = nullptr;
                const int len = i2d_SSL_SESSION(sess, &der);
                if (len > 0) {
                    r.session.assign(reinterpret_cast<const char*>(der),
                                     static_cast<std::size_t>(len));
                }
                OPENSSL_free(der);
                SSL_SESSION_free(sess);
            }
            SSL_shutdown(ssl);
        } else {
            r.error = "handshake: " + last_error();
        }
    }
    ERR_clear_error();
    ::close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return r;
}

Exchange exchange(
    const net::TlsServerContext& context, const ClientOptions& options,
    std::function<Task<void>(TcpSocket&, net::TlsSession&, ServerResult&)> after_handshake) {
    Exchange out;
    asio::io_context io(1);
    TcpAcceptor acceptor(io.get_executor(),
                         asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    const auto port = acceptor.local_endpoint().port();
    // Named, so the captures outlive the coroutine (which runs until io.run() returns).
    auto serve = [&]() -> Task<void> {
        TcpSocket socket(io.get_executor());
        const auto [accept_ec] = co_await acceptor.async_accept(socket, use_tuple);
        if (accept_ec) {
            out.server.handshake = accept_ec;
            co_return;
        }
        net::TlsSession session(socket, context);
        ServerResult& s = out.server;
        s.handshake = co_await session.handshake();
        if (s.handshake) {
            co_return;
        }
        s.server_name = session.server_name();
        s.alpn = session.alpn();
        s.version = session.version();
        s.cipher = session.cipher();
        s.subject = session.peer_subject();
        s.resumed = session.resumed();
        if (after_handshake) {
            co_await after_handshake(socket, session, s);
            co_return;
        }
        char buf[1024];
        for (;;) {
            const auto [ec, n] = co_await session.read_some(asio::buffer(buf));
            if (ec) {
                s.read_error = ec;
                break;
            }
            const asio::const_buffer piece(buf, n);
            if (const auto wec = co_await session.write(std::span(&piece, 1))) {
                s.read_error = wec;
                break;
            }
        }
        co_await session.shutdown();
    };
    asio::co_spawn(io, serve(), asio::detached);
    std::thread server([&io] { io.run(); });
    out.client = run_client(port, options);
    server.join();
    return out;
}

}  // namespace usher::test
