#include "unit/net/test_certs.hpp"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace usher::test {
namespace {

EVP_PKEY* read_key(const std::string& path) {
    BIO* bio = BIO_new_file(path.c_str(), "r");
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return key;
}

X509* read_cert(const std::string& path) {
    BIO* bio = BIO_new_file(path.c_str(), "r");
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return cert;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) {
        throw std::runtime_error("bad extension " + value);
    }
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

}  // namespace

TempDir::TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("usher-tls-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

CertFiles make_cert(const TempDir& dir, const std::string& name, const CertSpec& spec) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), spec.valid_from);
    X509_gmtime_adj(X509_getm_notAfter(cert), spec.valid_until);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    const auto add_entry = [subject](const char* field, const std::string& value) {
        X509_NAME_add_entry_by_txt(subject, field, MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0);
    };
    if (!spec.organization.empty()) {
        add_entry("O", spec.organization);
    }
    add_entry("CN", spec.common_name);

    X509* issuer = cert;
    EVP_PKEY* signer = key;
    if (spec.issuer != nullptr) {
        issuer = read_cert(spec.issuer->cert);
        signer = read_key(spec.issuer->key);
    }
    X509_set_issuer_name(cert, X509_get_subject_name(issuer));
    if (spec.ca) {
        add_ext(cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (!spec.dns.empty() || !spec.ips.empty()) {
        std::string san;
        for (const auto& d : spec.dns) {
            san += (san.empty() ? "DNS:" : ",DNS:") + d;
        }
        for (const auto& ip : spec.ips) {
            san += (san.empty() ? "IP:" : ",IP:") + ip;
        }
        add_ext(cert, issuer, NID_subject_alt_name, san);
    }
    X509_sign(cert, signer, EVP_sha256());

    CertFiles files{dir.file(name + ".pem"), dir.file(name + ".key")};
    BIO* out = BIO_new_file(files.cert.c_str(), "w");
    PEM_write_bio_X509(out, cert);
    BIO_free(out);
    out = BIO_new_file(files.key.c_str(), "w");
    PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    BIO_free(out);
    if (spec.issuer != nullptr) {
        X509_free(issuer);
        EVP_PKEY_free(signer);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return files;
}

std::string make_ocsp_response(const std::string& path) {
    OCSP_RESPONSE* resp = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, nullptr);
    unsigned char* der = nullptr;
    const int len = i2d_OCSP_RESPONSE(resp, &der);
    std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    write_file(path, bytes);
    return bytes;
}

}  // namespace usher::test
