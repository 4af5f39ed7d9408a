#include "net/tls_util.hpp"

#include <openssl/err.h>

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

int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) {
    return -1;
}

}  // namespace usher::net::detail
