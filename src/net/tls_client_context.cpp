#include "net/tls_client_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "net/tls_util.hpp"

namespace usher::net {
namespace {

using detail::memory_bio;
using detail::no_password;
using detail::openssl_error;
using detail::Owned;
using detail::read_file;

// Entries of the session cache (one per endpoint address and name): far more than any cluster
// has endpoints; past it the cache starts over rather than grow with DNS churn.
constexpr std::size_t kMaxCachedSessions = 4096;
constexpr int kVerifyDepth = 8;  // server chains: leaf + intermediates + root

// The trust store: `ca_file` (which must hold at least one PEM certificate) or the system's.
void load_trust(const config::UpstreamTls& tls, SSL_CTX* ctx, std::vector<std::string>& errors) {
    if (tls.ca_file.empty()) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            errors.push_back("cannot load the system CA store: " + openssl_error());
        }
        return;
    }
    std::string error;
    const auto pem = read_file(tls.ca_file, error);
    if (!pem) {
        errors.push_back(error);
        return;
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    const auto bio = memory_bio(*pem);
    while (Owned<X509> ca{PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)}) {
        if (X509_STORE_add_cert(store, ca.get()) != 1) {
            errors.push_back(tls.ca_file + ": bad CA file: " + openssl_error());
            return;
        }
        ++count;
    }
    ERR_clear_error();  // the loop ends on "no start line"
    if (count == 0) {
        errors.push_back(tls.ca_file + ": bad CA file: no PEM certificate in it");
    }
}

// The client certificate (mTLS to the backend): chain, key, and that they match.
void load_client_certificate(const config::UpstreamTls& tls, SSL_CTX* ctx,
                             std::vector<std::string>& errors) {
    Owned<X509> leaf = detail::load_certificate_chain(tls.client_cert, ctx, errors);
    if (leaf && X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
        errors.push_back(tls.client_cert + ": certificate expired");
    }
    std::string error;
    const auto key_pem = read_file(tls.client_key, error);
    if (!key_pem) {
        errors.push_back(error);
        return;
    }
    const auto bio = memory_bio(*key_pem);
    Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
    if (!key) {
        ERR_clear_error();
        errors.push_back(tls.client_key +
                         ": no private key found (expected an unencrypted PEM key)");
    } else if (leaf && X509_check_private_key(leaf.get(), key.get()) != 1) {
        ERR_clear_error();
        errors.push_back(tls.client_key + ": key does not match the certificate in " +
                         tls.client_cert);
    } else if (leaf && SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
        errors.push_back(tls.client_key + ": key rejected: " + openssl_error());
    }
}

// A new session from the backend (TLS 1.2 at the handshake, TLS 1.3 in a NewSessionTicket read
// later): kept under the connection's cache key, which TlsSession (client role) sets as the
// SSL's app data. Returning 1 keeps OpenSSL's reference.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, 0));  // app data
    const auto* self =
        static_cast<const TlsClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0));
    if (key == nullptr || key->empty() || self == nullptr) {
        return 0;
    }
    self->save(*key, session);
    return 1;
}

}  // namespace

struct TlsClientContext::Impl {
    explicit Impl(const config::UpstreamTls& tls) : config(tls) {}

    config::UpstreamTls config;
    Owned<SSL_CTX> ctx;
    mutable std::mutex mutex;
    mutable std::map<std::string, Owned<SSL_SESSION>, std::less<>> sessions;
};

TlsClientContext::TlsClientContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsClientContext::~TlsClientContext() = default;

TlsClientContext::Built TlsClientContext::build(const config::UpstreamTls& tls) {
    Built out;
    auto impl = std::make_unique<Impl>(tls);
    impl->ctx.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = impl->ctx.get();
    if (ctx == nullptr) {
        out.errors.push_back("cannot create a TLS context: " + openssl_error());
        return out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    static const unsigned char kAlpnH2[] = {2, 'h', '2'};
    const int alpn_failed = tls.http2 ? SSL_CTX_set_alpn_protos(ctx, kAlpnH2, sizeof kAlpnH2)
                                      : SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
    if (alpn_failed != 0) {  // 0 = success here
        out.errors.push_back("cannot set ALPN: " + openssl_error());
    }
    // Sessions are kept by TlsClientContext::save (per endpoint), not by OpenSSL's cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (tls.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_verify_depth(ctx, kVerifyDepth);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (tls.verify || !tls.ca_file.empty()) {
        load_trust(tls, ctx, out.errors);  // with verify off a named ca_file is still checked
    }
    if (!tls.client_cert.empty() || !tls.client_key.empty()) {
        load_client_certificate(tls, ctx, out.errors);
    }
    if (out.errors.empty()) {
        auto* self = new TlsClientContext(std::move(impl));
        SSL_CTX_set_ex_data(ctx, 0, self);  // SSL_CTX_set_app_data: for on_new_session
        out.context = std::shared_ptr<const TlsClientContext>(self);
    }
    return out;
}

ssl_ctx_st* TlsClientContext::native_handle() const noexcept {
    return impl_->ctx.get();
}

const config::UpstreamTls& TlsClientContext::config() const noexcept {
    return impl_->config;
}

std::string TlsClientContext::peer_name(std::string_view endpoint) const {
    if (!impl_->config.server_name.empty()) {
        return impl_->config.server_name;
    }
    if (endpoint.starts_with('[')) {
        const auto close = endpoint.find(']');
        return std::string(
            endpoint.substr(1, close == std::string_view::npos ? endpoint.npos : close - 1));
    }
    const auto colon = endpoint.find(':');
    if (colon != std::string_view::npos &&
        endpoint.find(':', colon + 1) == std::string_view::npos) {
        return std::string(endpoint.substr(0, colon));
    }
    return std::string(endpoint);  // a bare host or a bare IPv6 address
}

ssl_session_st* TlsClientContext::session(const std::string& key) const {
    const std::lock_guard lock(impl_->mutex);
    const auto it = impl_->sessions.find(key);
    if (it == impl_->sessions.end()) {
        return nullptr;
    }
    SSL_SESSION_up_ref(it->second.get());
    return it->second.get();
}

void TlsClientContext::save(const std::string& key, ssl_session_st* session) const {
    Owned<SSL_SESSION> owned(session);
    const std::lock_guard lock(impl_->mutex);
    if (impl_->sessions.size() >= kMaxCachedSessions && !impl_->sessions.contains(key)) {
        impl_->sessions.clear();
    }
    impl_->sessions[key] = std::move(owned);  // the replaced session is freed
}

void TlsClientContext::forget(const std::string& key) const {
    const std::lock_guard lock(impl_->mutex);
    impl_->sessions.erase(key);
}

std::size_t TlsClientContext::cached_sessions() const {
    const std::lock_guard lock(impl_->mutex);
    return impl_->sessions.size();
}

}  // namespace usher::net
