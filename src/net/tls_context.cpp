#include "net/tls_context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "net/tls_client_context.hpp"
#include "net/tls_util.hpp"

namespace usher::net {
namespace {

using detail::memory_bio;
using detail::no_password;
using detail::openssl_error;
using detail::Owned;
using detail::read_file;

// TLS 1.2: ECDHE key exchange and AEAD ciphers only, in server order (Mozilla "intermediate"
// minus DHE). TLS 1.3 suites are all AEAD.
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kCiphers13 =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::size_t kMaxServerName = 255;

std::string asn1_time_text(const ASN1_TIME* t) {
    Owned<BIO> bio(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(bio.get(), t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string("?");
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

// DNS names of the subjectAltName extension; the subject's CN only when there is no SAN.
std::vector<std::string> certificate_names(X509* cert) {
    std::vector<std::string> names;
    Owned<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
            if (gn->type == GEN_DNS) {
                const ASN1_STRING* s = gn->d.dNSName;
                names.push_back(
                    lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                           static_cast<std::size_t>(ASN1_STRING_length(s)))));
            }
        }
        return names;
    }
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0) {
        const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
        names.push_back(
            lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    return names;
}

// Session-ticket encryption keys shared by every worker of the process (one ring per listener).
// The current key encrypts new tickets; it is replaced every `rotation`, and the previous one
// still decrypts (such tickets are accepted and renewed), so a ticket lives through at most two
// periods. Rotation happens lazily, on the first ticket issued after the period ends.
class TicketKeyRing {
  public:
    explicit TicketKeyRing(std::chrono::milliseconds rotation) : rotation_(rotation) {
        rotate_locked(std::chrono::steady_clock::now());
    }

    void rotate() {
        const std::lock_guard lock(mutex_);
        rotate_locked(std::chrono::steady_clock::now());
    }

    // OpenSSL's ticket key callback contract: 1 = ok, 2 = ok but renew the ticket, 0 = unknown
    // key (full handshake), -1 = error.
    int encrypt(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac) {
        Key key;
        {
            const std::lock_guard lock(mutex_);
            const auto now = std::chrono::steady_clock::now();
            if (now - current_.created >= rotation_) {
                rotate_locked(now);
            }
            key = current_;
        }
        std::memcpy(name, key.name.data(), key.name.size());
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) {
            return -1;
        }
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) {
            return -1;
        }
        return set_mac(mac, key) ? 1 : -1;
    }

    int decrypt(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                EVP_MAC_CTX* mac) {
        Key key;
        bool is_current = false;
        {
            const std::lock_guard lock(mutex_);
            if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0) {
                key = current_;
                is_current = true;
            } else if (previous_ &&
                       std::memcmp(name, previous_->name.data(), previous_->name.size()) == 0) {
                key = *previous_;
            } else {
                return 0;
            }
        }
        if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) {
            return -1;
        }
        if (!set_mac(mac, key)) {
            return -1;
        }
        return is_current ? 1 : 2;
    }

  private:
    struct Key {
        std::array<unsigned char, 16> name{};
        std::array<unsigned char, 32> aes{};
        std::array<unsigned char, 32> hmac{};
        std::chrono::steady_clock::time_point created;
    };

    static bool set_mac(EVP_MAC_CTX* mac, Key& key) {
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end()};
        return EVP_MAC_CTX_set_params(mac, params) == 1;
    }

    void rotate_locked(std::chrono::steady_clock::time_point now) {
        Key next;
        if (RAND_bytes(next.name.data(), static_cast<int>(next.name.size())) != 1 ||
            RAND_bytes(next.aes.data(), static_cast<int>(next.aes.size())) != 1 ||
            RAND_bytes(next.hmac.data(), static_cast<int>(next.hmac.size())) != 1) {
            return;  // keep the current key rather than use a weak one
        }
        next.created = now;
        if (current_.created != std::chrono::steady_clock::time_point{}) {
            previous_ = current_;
        }
        current_ = next;
    }

    std::mutex mutex_;
    const std::chrono::milliseconds rotation_;
    Key current_;
    std::optional<Key> previous_;
};

int impl_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

}  // namespace

struct CertEntry {
    Owned<SSL_CTX> ctx;
    std::vector<std::string> names;
    std::string ocsp;  // DER; empty = no stapling
};

struct TlsServerContext::Impl {
    Impl(const config::ListenerTls& tls, const TlsContextOptions& opts)
        : config(tls), options(opts), tickets(opts.ticket_key_rotation) {
        for (const auto& proto : tls.alpn) {
            alpn_wire.push_back(static_cast<unsigned char>(proto.size()));
            alpn_wire.insert(alpn_wire.end(), proto.begin(), proto.end());
        }
    }

    config::ListenerTls config;
    TlsContextOptions options;
    std::vector<CertEntry> certs;
    std::map<std::string, std::size_t, std::less<>> exact;     // "a.example.com" -> cert
    std::map<std::string, std::size_t, std::less<>> wildcard;  // ".example.com" -> cert
    std::vector<unsigned char> alpn_wire;
    TicketKeyRing tickets;

    static Impl* of(SSL* ssl) {
        return static_cast<Impl*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), impl_index()));
    }

    std::size_t select(std::string_view name) const noexcept {
        if (name.empty() || name.size() > kMaxServerName) {
            return 0;
        }
        if (name.back() == '.') {
            name.remove_suffix(1);
        }
        std::array<char, kMaxServerName> buf{};
        for (std::size_t i = 0; i < name.size(); ++i) {
            const char c = name[i];
            buf[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        const std::string_view host(buf.data(), name.size());
        if (const auto it = exact.find(host); it != exact.end()) {
            return it->second;
        }
        const auto dot = host.find('.');
        if (dot != std::string_view::npos && dot > 0) {
            if (const auto it = wildcard.find(host.substr(dot)); it != wildcard.end()) {
                return it->second;
            }
        }
        return 0;
    }
};

namespace {

// The host_name of a ClientHello's server_name extension (RFC 6066 section 3), or "".
std::string_view client_hello_server_name(SSL* ssl) {
    const unsigned char* p = nullptr;
    std::size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5) {
        return {};
    }
    const std::size_t list_len = (std::size_t{p[0]} << 8) | p[1];
    if (list_len + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name) {
        return {};
    }
    const std::size_t name_len = (std::size_t{p[3]} << 8) | p[4];
    if (name_len + 5 > len) {
        return {};
    }
    return {reinterpret_cast<const char*>(p + 5), name_len};
}

// Picks the certificate before anything else of the ClientHello is processed, so that session
// resumption (the PSK or session ticket, checked against the session id context) already sees
// the chosen certificate's SSL_CTX: a session of a.example.com never resumes for b.example.com.
int on_client_hello(SSL* ssl, int*, void*) {
    const auto* impl = TlsServerContext::Impl::of(ssl);
    if (impl == nullptr) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    const std::size_t index = impl->select(client_hello_server_name(ssl));
    if (index != 0) {
        SSL_set_SSL_CTX(ssl, impl->certs[index].ctx.get());
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

// Server preference among the listener's protocols. No protocol in common: no ALPN in the
// answer (NOACK) and the connection is served as HTTP/1.1, instead of a fatal
// no_application_protocol alert (RFC 7301 allows either; see net/README.md).
int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
            unsigned int in_len, void*) {
    const auto* impl = TlsServerContext::Impl::of(ssl);
    if (impl == nullptr || impl->alpn_wire.empty()) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_len, impl->alpn_wire.data(),
                              static_cast<unsigned int>(impl->alpn_wire.size()), in,
                              in_len) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

int on_status_request(SSL* ssl, void* arg) {
    const auto* entry = static_cast<const CertEntry*>(arg);
    if (entry == nullptr || entry->ocsp.empty() ||
        SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(entry->ocsp.size()));
    if (copy == nullptr) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    std::memcpy(copy, entry->ocsp.data(), entry->ocsp.size());
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(entry->ocsp.size()));
    return SSL_TLSEXT_ERR_OK;
}

int on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int encrypting) {
    auto* impl = TlsServerContext::Impl::of(ssl);
    if (impl == nullptr) {
        return -1;
    }
    return encrypting != 0 ? impl->tickets.encrypt(name, iv, cipher, mac)
                           : impl->tickets.decrypt(name, iv, cipher, mac);
}

// The settings every certificate's SSL_CTX shares. Returns "" or an error.
std::string configure(SSL_CTX* ctx, TlsServerContext::Impl& impl) {
    const auto& tls = impl.config;
    SSL_CTX_set_ex_data(ctx, impl_index(), &impl);
    SSL_CTX_set_min_proto_version(
        ctx, tls.min_version == config::TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, kCiphers13) != 1 ||
        SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
        return "cannot set ciphers: " + openssl_error();
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // An idle connection keeps no read/write buffers (they come back with the next record).
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(impl.options.session_cache_size));
    SSL_CTX_set_timeout(ctx, static_cast<long>(impl.options.session_lifetime.count()));
    if (tls.session_tickets) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
    return {};
}

// Loads one certificate (chain + key + OCSP) into `entry.ctx`. Appends errors naming the file.
void load_certificate(const config::TlsCertificate& c, CertEntry& entry,
                      std::vector<std::string>& errors) {
    SSL_CTX* ctx = entry.ctx.get();
    Owned<X509> leaf = detail::load_certificate_chain(c.cert, ctx, errors);
    if (leaf) {
        if (X509_cmp_current_time(X509_get0_notBefore(leaf.get())) > 0) {
            errors.push_back(c.cert + ": certificate is not valid before " +
                             asn1_time_text(X509_get0_notBefore(leaf.get())));
        }
        if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
            errors.push_back(c.cert + ": certificate expired on " +
                             asn1_time_text(X509_get0_notAfter(leaf.get())));
        }
        entry.names = certificate_names(leaf.get());
        if (entry.names.empty()) {
            errors.push_back(c.cert +
                             ": certificate has no DNS name (no subjectAltName and no subject CN)");
        }
    }
    std::string error;
    const auto key_pem = read_file(c.key, error);
    if (!key_pem) {
        errors.push_back(error);
    } else {
        const auto bio = memory_bio(*key_pem);
        Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
        if (!key) {
            ERR_clear_error();
            errors.push_back(c.key + ": no private key found (expected an unencrypted PEM key)");
        } else if (leaf && X509_check_private_key(leaf.get(), key.get()) != 1) {
            ERR_clear_error();
            errors.push_back(c.key + ": key does not match the certificate in " + c.cert);
        } else if (leaf && SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
            errors.push_back(c.key + ": key rejected: " + openssl_error());
        }
    }
    if (!c.ocsp.empty()) {
        const auto der = read_file(c.ocsp, error);
        if (!der) {
            errors.push_back(error);
        } else {
            const auto* p = reinterpret_cast<const unsigned char*>(der->data());
            Owned<OCSP_RESPONSE> resp(
                d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der->size())));
            if (!resp) {
                ERR_clear_error();
                errors.push_back(c.ocsp + ": not a DER-encoded OCSP response");
            } else {
                entry.ocsp = *der;
                SSL_CTX_callback_ctrl(ctx, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB,
                                      reinterpret_cast<void (*)()>(on_status_request));
                SSL_CTX_set_tlsext_status_arg(ctx, &entry);
            }
        }
    }
    // Sessions are bound to their certificate: a session made for a.example.com cannot be
    // resumed by a client that asks for b.example.com.
    std::array<unsigned char, 32> sid{};
    unsigned int sid_len = 0;
    if (leaf) {
        X509_digest(leaf.get(), EVP_sha256(), sid.data(), &sid_len);
    }
    SSL_CTX_set_session_id_context(ctx, sid.data(), sid_len);
}

// Client certificates (mTLS). Appends errors naming the CA file.
void load_client_ca(const config::ListenerTls& tls, SSL_CTX* ctx,
                    std::vector<std::string>& errors) {
    std::string error;
    const auto pem = read_file(tls.client_ca, error);
    if (!pem) {
        errors.push_back(error);
        return;
    }
    int count = 0;
    {
        const auto bio = memory_bio(*pem);
        while (Owned<X509> ca{PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)}) {
            ++count;
        }
        ERR_clear_error();
    }
    if (count == 0) {
        errors.push_back(tls.client_ca + ": bad CA file: no PEM certificate in it");
        return;
    }
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca.c_str(), nullptr) != 1) {
        errors.push_back(tls.client_ca + ": bad CA file: " + openssl_error());
        return;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca.c_str());
    if (names == nullptr) {
        errors.push_back(tls.client_ca + ": bad CA file: " + openssl_error());
        return;
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    const int mode = tls.client_auth == config::ClientAuth::optional
                         ? SSL_VERIFY_PEER
                         : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    SSL_CTX_set_verify_depth(ctx, limits::kTlsVerifyDepth);
}

}  // namespace

TlsServerContext::TlsServerContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServerContext::~TlsServerContext() = default;

TlsServerContext::Built TlsServerContext::build(const config::ListenerTls& tls,
                                                const TlsContextOptions& options) {
    Built out;
    if (tls.certificates.empty()) {
        out.errors.push_back("tls: no certificate configured");
        return out;
    }
    auto impl = std::make_unique<Impl>(tls, options);
    impl->certs.resize(tls.certificates.size());  // stable addresses from here on
    bool ca_reported = false;
    for (std::size_t i = 0; i < tls.certificates.size(); ++i) {
        CertEntry& entry = impl->certs[i];
        entry.ctx.reset(SSL_CTX_new(TLS_server_method()));
        if (!entry.ctx) {
            out.errors.push_back("cannot create a TLS context: " + openssl_error());
            return out;
        }
        if (auto error = configure(entry.ctx.get(), *impl); !error.empty()) {
            out.errors.push_back(std::move(error));
            return out;
        }
        load_certificate(tls.certificates[i], entry, out.errors);
        if (!tls.client_ca.empty()) {
            std::vector<std::string> ca_errors;
            load_client_ca(tls, entry.ctx.get(), ca_errors);
            if (!ca_reported) {  // the same file for every certificate: report it once
                out.errors.insert(out.errors.end(), ca_errors.begin(), ca_errors.end());
                ca_reported = true;
            }
        }
        for (const auto& name : entry.names) {
            if (name.size() > 2 && name.starts_with("*.")) {
                impl->wildcard.emplace(name.substr(1), i);  // first certificate wins
            } else {
                impl->exact.emplace(name, i);
            }
        }
    }
    if (out.errors.empty()) {
        out.context =
            std::shared_ptr<const TlsServerContext>(new TlsServerContext(std::move(impl)));
    }
    return out;
}

ssl_ctx_st* TlsServerContext::native_handle() const noexcept {
    return impl_->certs.front().ctx.get();
}

const std::vector<std::string>& TlsServerContext::names(std::size_t index) const {
    return impl_->certs.at(index).names;
}

std::size_t TlsServerContext::certificate_count() const noexcept {
    return impl_->certs.size();
}

std::size_t TlsServerContext::select(std::string_view server_name) const noexcept {
    return impl_->select(server_name);
}

const config::ListenerTls& TlsServerContext::config() const noexcept {
    return impl_->config;
}

void TlsServerContext::rotate_ticket_keys() const {
    impl_->tickets.rotate();
}

std::vector<std::string> check_tls_config(const config::Config& config) {
    std::vector<std::string> errors;
    for (const auto& listener : config.listeners) {
        if (!listener.tls) {
            continue;
        }
        for (auto& e : TlsServerContext::build(*listener.tls).errors) {
            errors.push_back("listener " + listener.name + ": " + e);
        }
    }
    for (const auto& [name, cluster] : config.clusters) {
        if (!cluster.tls) {
            continue;
        }
        for (auto& e : TlsClientContext::build(*cluster.tls).errors) {
            errors.push_back("cluster " + name + ": " + e);
        }
    }
    return errors;
}

}  // namespace usher::net
