#include "server/listener_info.hpp"

#include "net/tls_context.hpp"

namespace usher::server {

proxy::ListenerInfo make_listener_info(const config::Listener& l,
                                       std::shared_ptr<const net::TlsServerContext> tls,
                                       std::string address) {
    proxy::ListenerInfo info;
    info.name = l.name;
    info.address = std::move(address);
    info.tls = std::move(tls);
    info.redirect_to_https = l.redirect_to_https;
    info.redirect_https_port = l.redirect_https_port;
    info.hsts = l.hsts ? l.hsts->header_value() : "";
    info.http2 = l.http2;
    return info;
}

std::shared_ptr<const net::TlsServerContext> build_listener_tls(const config::Listener& l,
                                                                std::vector<std::string>& errors) {
    auto built = net::TlsServerContext::build(*l.tls);
    for (const auto& e : built.errors) {
        errors.push_back("listener " + l.name + ": " + e);
    }
    return built.context;
}

}  // namespace usher::server
