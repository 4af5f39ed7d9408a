#pragma once
// The ListenerInfo every connection of a listener sees, built from its config (start-up and
// reload alike), and the TLS context it needs.
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/worker_context.hpp"

namespace usher::server {

proxy::ListenerInfo make_listener_info(const config::Listener& l,
                                       std::shared_ptr<const net::TlsServerContext> tls,
                                       std::string address);

// Builds the listener's TLS context; nullptr with `errors` ("listener NAME: ...") on failure.
std::shared_ptr<const net::TlsServerContext> build_listener_tls(const config::Listener& l,
                                                                std::vector<std::string>& errors);

}  // namespace usher::server
