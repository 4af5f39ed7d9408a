#pragma once
// Internal to config/: reads a listener's TLS keys (issue 5): `tls` (certificates, min_version,
// alpn, client_ca, client_auth, handshake_timeout, session_tickets), `redirect_to_https`,
// `redirect_https_port` and `hsts`. Only the structure is checked here; whether the files exist
// and hold matching, valid certificates is checked by net::check_tls_config (usher check and
// start-up), which is the only code that links OpenSSL.
#include <optional>
#include <string>

#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config::detail {

// Reads the TLS-related keys present in the listener mapping `listener_field` into `listener`.
// Relative file paths are resolved against the directory of `source` (the config file name).
void read_listener_tls(Reader& r, const Field& listener_field, const std::string& source,
                       Listener& listener);

// Reads `tls` of the cluster mapping `cluster_field` (ca_file, verify, server_name,
// client_cert, client_key) into cluster.tls, which an https:// endpoint may already have set.
// `plain_http` is the cluster's first http:// endpoint: with a `tls` key it is an error.
void read_cluster_tls(Reader& r, const Field& cluster_field, const std::string& source,
                      const std::optional<Field>& plain_http, Cluster& cluster);

// The ALPN protocol names usher can speak on a TLS listener today.
const std::vector<std::string>& supported_alpn();

}  // namespace usher::config::detail
