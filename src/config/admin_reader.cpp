#include "config/admin_reader.hpp"

#include "config/syntax.hpp"

namespace usher::config::detail {

namespace {
const std::vector<std::string> kAdminKeys{"listen", "token"};
constexpr std::size_t kMinTokenLength = 16;
}  // namespace

void read_admin(Reader& r, const Field& f, Config& config) {
    Admin admin;
    if (!r.mapping(f, kAdminKeys)) {
        return;
    }
    if (const auto v = r.get(f, "listen")) {
        if (const auto s = r.string(*v)) {
            std::string why;
            if (const auto a = parse_socket_address(*s, true, &why)) {
                admin.listen = *a;
                for (const auto& l : config.listeners) {
                    if (a->port != 0 && l.address == *a) {
                        r.error(*v, "the admin listener cannot share the address " +
                                        a->to_string() + " of listener \"" + l.name + "\"");
                    }
                }
            } else {
                r.error(*v, why);
            }
        }
    }
    if (const auto v = r.get(f, "token")) {
        if (const auto s = r.string(*v)) {
            // The token travels in an Authorization header: it must be a valid header value
            // with no spaces, and long enough not to be guessed.
            bool printable = !s->empty();
            for (char c : *s) {
                if (c <= ' ' || c == 0x7f) {
                    printable = false;
                }
            }
            if (!printable) {
                r.error(*v, "the token must be printable ASCII without spaces");
            } else if (s->size() < kMinTokenLength) {
                r.error(*v, "the token is too short (at least " + std::to_string(kMinTokenLength) +
                                " characters)");
            }
            admin.token = *s;
        }
    }
    config.admin = std::move(admin);
}

}  // namespace usher::config::detail
