#pragma once
// Internal to net/tls_* (it includes OpenSSL): ownership of OpenSSL objects and the small file
// and error helpers both TLS contexts (server and client) use.
#include <openssl/bio.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace usher::net::detail {

struct OpenSslFree {
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
    void operator()(SSL_SESSION* p) const noexcept { SSL_SESSION_free(p); }
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
    void operator()(OCSP_RESPONSE* p) const noexcept { OCSP_RESPONSE_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, OpenSslFree>;

// The oldest error on OpenSSL's queue, readable; clears the queue.
std::string openssl_error();

// Whole file, or nullopt with `error` = "<path>: cannot read: <strerror>".
std::optional<std::string> read_file(const std::string& path, std::string& error);

// A read-only BIO over `bytes` (which must outlive it).
Owned<BIO> memory_bio(const std::string& bytes);

// Reads the PEM file `path`, installs its first certificate as `ctx`'s own and the rest as its
// chain. Returns the leaf, or nullptr after appending a message naming the file to `errors`.
Owned<X509> load_certificate_chain(const std::string& path, SSL_CTX* ctx,
                                   std::vector<std::string>& errors);

// A PEM password callback that refuses: encrypted keys are not supported (nothing could type the
// password).
int no_password(char* buf, int size, int rwflag, void* user);

}  // namespace usher::net::detail
