#pragma once
// Throwaway certificates for TLS tests, made with OpenSSL in a temporary directory: EC P-256
// keys, SAN DNS names, chosen validity, self-signed or issued by a test CA.
#include <filesystem>
#include <string>
#include <vector>

namespace usher::test {

// A fresh directory removed (with its files) on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

struct CertFiles {
    std::string cert;  // PEM path
    std::string key;   // PEM path
};

struct CertSpec {
    std::string common_name = "test";
    std::vector<std::string> dns;       // subjectAltName DNS names; none = no SAN extension
    std::vector<std::string> ips;       // subjectAltName IP addresses (with the DNS names)
    long valid_from = -3600;            // seconds from now
    long valid_until = 86400;           // seconds from now
    bool ca = false;                    // basicConstraints CA:TRUE, keyCertSign
    const CertFiles* issuer = nullptr;  // nullptr = self-signed
    std::string organization;           // optional O= in the subject
};

// Writes `<name>.pem` and `<name>.key` into `dir`.
CertFiles make_cert(const TempDir& dir, const std::string& name, const CertSpec& spec);

// Writes a syntactically valid DER OCSP response ("try later", no body) and returns its bytes.
std::string make_ocsp_response(const std::string& path);

void write_file(const std::string& path, const std::string& bytes);

}  // namespace usher::test
