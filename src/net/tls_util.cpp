#include "net/tls_util.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace usher::net::detail {

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) {
        return "unknown OpenSSL error";
    }
    const char* reason = ERR_reason_error_string(e);
    return reason != nullptr ? reason : "OpenSSL error " + std::to_string(e);
}

std::optional<std::string> read_file(const std::string& path, std::string& error) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot read: " + std::strerror(errno != 0 ? errno : ENOENT);
        return std::nullopt;
    }
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) {
        error = path + ": cannot read: " + std::strerror(errno != 0 ? errno : EIO);
        return std::nullopt;
    }
    return std::move(out).str();
}

Owned<BIO> memory_bio(const std::string& bytes) {
    return Owned<BIO>(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

Owned<X509> load_certificate_chain(const std::string& path, SSL_CTX* ctx,
                                   std::vector<std::string>& errors) {
    std::string error;
    const auto pem = read_file(path, error);
    if (!pem) {
        errors.push_back(error);
        return nullptr;
    }
    const auto bio = memory_bio(*pem);
    Owned<X509> leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, no_password, nullptr));
    if (!leaf) {
        ERR_clear_error();
        errors.push_back(path + ": no certificate found (expected PEM \"BEGIN CERTIFICATE\")");
        return nullptr;
    }
    if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
        errors.push_back(path + ": certificate rejected: " + openssl_error());
        return nullptr;
    }
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)) {
        SSL_CTX_add0_chain_cert(ctx, extra);  // takes ownership
    }
    ERR_clear_error();  // the loop ends on "no start line"
    return leaf;
}

int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) {
    return -1;
}

}  // namespace usher::net::detail
