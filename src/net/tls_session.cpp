#include "net/tls_session.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "net/tls_client_context.hpp"
#include "net/tls_context.hpp"

namespace usher::net {
namespace {

// Pieces smaller than this are copied together so a gather write becomes one SSL_write (one TLS
// record up to 16 KiB); larger ones are written in place.
constexpr std::size_t kCoalesceLimit = 4 * 1024;
constexpr std::size_t kMaxRecord = 16 * 1024;

class TlsCategory final : public std::error_category {
  public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int code) const override {
        if (code < 0) {  // a certificate verification result (client role), negated
            return std::string("certificate verify failed: ") +
                   X509_verify_cert_error_string(-static_cast<long>(code));
        }
        char buf[256];
        ERR_error_string_n(static_cast<unsigned long>(code), buf, sizeof buf);
        const char* reason = ERR_reason_error_string(static_cast<unsigned long>(code));
        return reason != nullptr ? std::string(reason) : std::string(buf);
    }
};

// What the BIO needs from its session: the socket and where to leave errno.
struct SocketRef {
    int fd = -1;
    int last_errno = 0;
};

// A BIO over the connected socket: non-blocking recv/send with MSG_NOSIGNAL, so a peer that
// closed never raises SIGPIPE and EAGAIN becomes a retry (WANT_READ/WANT_WRITE).
int bio_write(BIO* bio, const char* data, int len) {
    auto* ref = static_cast<SocketRef*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n =
        ::send(ref->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
        return static_cast<int>(n);
    }
    ref->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        BIO_set_retry_write(bio);
    }
    return -1;
}

int bio_read(BIO* bio, char* data, int len) {
    auto* ref = static_cast<SocketRef*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n = ::recv(ref->fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT);
    if (n >= 0) {
        return static_cast<int>(n);  // 0 = the peer closed the TCP connection
    }
    ref->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        BIO_set_retry_read(bio);
    }
    return -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

const BIO_METHOD* socket_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "usher socket");
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

std::string rfc2253(X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out = n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
    BIO_free(bio);
    return out;
}

}  // namespace

const std::error_category& tls_category() noexcept {
    static const TlsCategory category;
    return category;
}

struct TlsSession::Impl {
    Impl(TcpSocket& s, SSL_CTX* ctx) : socket(s), ssl(SSL_new(ctx)) {
        ref.fd = socket.native_handle();
        BIO* bio = BIO_new(socket_method());
        BIO_set_data(bio, &ref);
        SSL_set_bio(ssl, bio, bio);  // one BIO for both directions; the SSL owns it
    }
    ~Impl() { SSL_free(ssl); }

    // The outcome of an SSL call that returned `ret` <= 0: a wait for the socket (would_block
    // with `want_write` set) or a final error.
    asio::error_code failure(int ret, bool& want_read, bool& want_write) {
        want_read = want_write = false;
        const int e = SSL_get_error(ssl, ret);
        switch (e) {
            case SSL_ERROR_WANT_READ:
                want_read = true;
                return {};
            case SSL_ERROR_WANT_WRITE:
                want_write = true;
                return {};
            case SSL_ERROR_ZERO_RETURN:
                return asio::error::eof;
            case SSL_ERROR_SYSCALL: {
                ERR_clear_error();
                const int err = ref.last_errno;
                ref.last_errno = 0;
                return err != 0 ? asio::error_code(err, asio::error::get_system_category())
                                : asio::error_code(asio::error::eof);
            }
            default: {
                const unsigned long code = ERR_get_error();
                ERR_clear_error();
                return asio::error_code(static_cast<int>(code), tls_category());
            }
        }
    }

    // Runs `call` (an SSL_* function returning 1 on success) until it succeeds or fails.
    template <class Call>
    Task<asio::error_code> drive(Call call) {
        for (;;) {
            ERR_clear_error();
            const int ret = call();
            if (ret > 0) {
                co_return asio::error_code{};
            }
            bool want_read = false;
            bool want_write = false;
            const asio::error_code ec = failure(ret, want_read, want_write);
            if (!want_read && !want_write) {
                co_return ec;
            }
            const auto [wait_ec] = co_await socket.async_wait(
                want_read ? asio::socket_base::wait_read : asio::socket_base::wait_write,
                use_tuple);
            if (wait_ec) {
                co_return wait_ec;
            }
        }
    }

    Task<asio::error_code> write_all(const char* data, std::size_t size) {
        std::size_t written = 0;
        while (written < size) {
            std::size_t n = 0;
            const auto ec = co_await drive(
                [&] { return SSL_write_ex(ssl, data + written, size - written, &n); });
            if (ec) {
                co_return ec;
            }
            written += n;
        }
        co_return asio::error_code{};
    }

    TcpSocket& socket;
    SSL* ssl;
    SocketRef ref;
    std::string subject;
    const TlsClientContext* client = nullptr;  // client role: its session cache
    std::string cache_key;                     // client role: "name@address:port"
};

TlsSession::TlsSession(TcpSocket& socket, const TlsServerContext& context)
    : impl_(std::make_unique<Impl>(socket, context.native_handle())) {
    SSL_set_accept_state(impl_->ssl);
}

TlsSession::TlsSession(TcpSocket& socket, const TlsClientContext& context, std::string_view host)
    : impl_(std::make_unique<Impl>(socket, context.native_handle())) {
    Impl& s = *impl_;
    s.client = &context;
    SSL_set_connect_state(s.ssl);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    const std::string name(host);
    std::array<unsigned char, 16> addr{};
    const bool ip = inet_pton(AF_INET, name.c_str(), addr.data()) == 1 ||
                    inet_pton(AF_INET6, name.c_str(), addr.data()) == 1;
    if (!ip && !name.empty()) {
        // SSL_set_tlsext_host_name, without its old-style cast. RFC 6066: no SNI for IP literals.
        SSL_ctrl(s.ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str()));
    }
    if (context.config().verify) {
        if (ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl), name.c_str());
        } else {
            SSL_set_hostflags(s.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            SSL_set1_host(s.ssl, name.c_str());
        }
    }
    // Resumption: the last session of this name at this address.
    asio::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    s.cache_key =
        name + "@" +
        (ec ? std::string() : remote.address().to_string() + ":" + std::to_string(remote.port()));
    SSL_set_ex_data(s.ssl, 0, &s.cache_key);  // SSL_set_app_data: for on_new_session
    if (SSL_SESSION* cached = context.session(s.cache_key)) {
        SSL_set_session(s.ssl, cached);
        SSL_SESSION_free(cached);
    }
}

TlsSession::~TlsSession() = default;

Task<asio::error_code> TlsSession::handshake() {
    Impl& s = *impl_;
    auto ec = co_await s.drive([&s] { return SSL_do_handshake(s.ssl); });
    if (ec && s.client != nullptr) {
        s.client->forget(s.cache_key);
        const long verify = SSL_get_verify_result(s.ssl);
        if (verify != X509_V_OK && ec.category() == tls_category()) {
            ec = asio::error_code(-static_cast<int>(verify), tls_category());
        }
    }
    if (!ec && SSL_get_verify_result(s.ssl) == X509_V_OK) {
        if (X509* peer = SSL_get0_peer_certificate(s.ssl)) {
            s.subject = rfc2253(X509_get_subject_name(peer));
        }
    }
    co_return ec;
}

Task<std::pair<asio::error_code, std::size_t>> TlsSession::read_some(asio::mutable_buffer buffer) {
    if (buffer.size() == 0) {
        co_return std::pair{asio::error_code{}, std::size_t{0}};
    }
    Impl& s = *impl_;
    std::size_t n = 0;
    const auto ec =
        co_await s.drive([&] { return SSL_read_ex(s.ssl, buffer.data(), buffer.size(), &n); });
    co_return std::pair{ec, ec ? std::size_t{0} : n};
}

Task<asio::error_code> TlsSession::write(std::span<const asio::const_buffer> buffers) {
    Impl& s = *impl_;
    std::string scratch;  // small pieces, coalesced; lives only during this call
    for (const auto& b : buffers) {
        if (b.size() == 0) {
            continue;
        }
        const auto* data = static_cast<const char*>(b.data());
        if (b.size() < kCoalesceLimit && scratch.size() + b.size() <= kMaxRecord) {
            if (scratch.empty()) {
                scratch.reserve(kMaxRecord);
            }
            scratch.append(data, b.size());
            continue;
        }
        if (!scratch.empty() && b.size() < kCoalesceLimit) {  // scratch full: flush, keep piece
            if (const auto ec = co_await s.write_all(scratch.data(), scratch.size())) {
                co_return ec;
            }
            scratch.assign(data, b.size());
            continue;
        }
        // A large piece: top up the scratch record with its start, then write the rest in place.
        std::size_t used = 0;
        if (!scratch.empty()) {
            used = std::min(b.size(), kMaxRecord - scratch.size());
            scratch.append(data, used);
            if (const auto ec = co_await s.write_all(scratch.data(), scratch.size())) {
                co_return ec;
            }
            scratch.clear();
        }
        if (const auto ec = co_await s.write_all(data + used, b.size() - used)) {
            co_return ec;
        }
    }
    if (!scratch.empty()) {
        if (const auto ec = co_await s.write_all(scratch.data(), scratch.size())) {
            co_return ec;
        }
    }
    co_return asio::error_code{};
}

Task<void> TlsSession::shutdown() {
    Impl& s = *impl_;
    if (SSL_is_init_finished(s.ssl) == 1) {
        ERR_clear_error();
        SSL_shutdown(s.ssl);  // queues and tries to send close_notify; no waiting for the peer
        ERR_clear_error();
    }
    co_return;
}

bool TlsSession::has_buffered_input() const noexcept {
    return SSL_pending(impl_->ssl) > 0 || SSL_has_pending(impl_->ssl) == 1;
}

std::string_view TlsSession::server_name() const noexcept {
    const char* name = SSL_get_servername(impl_->ssl, TLSEXT_NAMETYPE_host_name);
    return name != nullptr ? name : "";
}

std::string_view TlsSession::alpn() const noexcept {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(impl_->ssl, &data, &len);
    return data != nullptr ? std::string_view(reinterpret_cast<const char*>(data), len) : "";
}

std::string_view TlsSession::version() const noexcept {
    return SSL_get_version(impl_->ssl);
}

std::string_view TlsSession::cipher() const noexcept {
    const char* name = SSL_get_cipher_name(impl_->ssl);
    return name != nullptr ? name : "";
}

bool TlsSession::resumed() const noexcept {
    return SSL_session_reused(impl_->ssl) == 1;
}

const std::string& TlsSession::peer_subject() const noexcept {
    return impl_->subject;
}

}  // namespace usher::net
