#include "cli/cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/admin_client.hpp"
#include "config/loader.hpp"
#include "core/log.hpp"
#include "net/tls_context.hpp"
#include "server/server.hpp"

namespace usher::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  usher -c usher.yaml                      run with a config file
  usher check -c usher.yaml                validate a config file and exit
  usher reload -c usher.yaml               reload a running usher (its admin API, from the file's
                                           admin section); or: usher reload --admin 127.0.0.1:9901
  usher --listen 127.0.0.1:8080 --to http://127.0.0.1:9001 --to http://127.0.0.1:9002
                                           proxy everything to two backends, round robin
  usher --listen :8080 --to 10.0.0.5:80 --timeout upstream_header=5s --access-log -

Exit codes: 0 success, 1 invalid config, start-up failure or reload rejected, 2 bad command line.
Docs: docs/config.md (every config key), README.md.)";

// YAML double-quoted scalar.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
            out.append(buf);
            continue;
        }
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

void print_errors(const std::vector<config::Diagnostic>& errors) {
    for (const auto& e : errors) {
        std::cerr << e.to_string() << '\n';
    }
    std::cerr << errors.size() << (errors.size() == 1 ? " error" : " errors") << '\n';
}

// `usher reload`: POST /config/reload to the admin API; prints the outcome.
int reload_command(const std::string& config_file, std::string admin, std::string token) {
    if (!config_file.empty()) {  // the admin section of the file, unless given on the line
        auto loaded = config::load_file(config_file);
        if (!loaded.ok()) {
            print_errors(loaded.errors);
            return 1;
        }
        if (loaded.config->admin) {
            if (admin.empty()) {
                admin = loaded.config->admin->listen.to_string();
            }
            if (token.empty()) {
                token = loaded.config->admin->token;
            }
        } else if (admin.empty()) {
            std::cerr << "usher: " << config_file
                      << " has no admin section: give --admin ADDRESS\n";
            return 1;
        }
    }
    if (admin.empty()) {
        admin = "127.0.0.1:9901";
    }
    const auto reply = admin_request(admin, "POST", "/config/reload", token);
    if (reply.status == 0) {
        std::cerr << "usher: cannot reach the admin API at " << admin << ": " << reply.error
                  << '\n';
        return 1;
    }
    if (reply.status == 200) {
        std::cout << "reloaded: " << reply.body;
        return 0;
    }
    std::cerr << "usher: reload " << (reply.status == 422 ? "rejected" : "failed") << " (HTTP "
              << reply.status << "): " << reply.body;
    return 1;
}

}  // namespace

bool quick_config_yaml(const QuickOptions& q, std::string& yaml, std::string& error) {
    yaml = "listeners:\n  - address: " + quoted(q.listen) + "\n";
    yaml += "clusters:\n  quick:\n    endpoints:\n";
    for (const auto& to : q.to) {
        yaml += "      - " + quoted(to) + "\n";
    }
    yaml += "routes:\n  - name: quick\n    cluster: quick\n";
    if (!q.timeouts.empty()) {
        yaml += "timeouts:\n";
        for (const auto& t : q.timeouts) {
            auto eq = t.find('=');
            if (eq == std::string::npos || eq == 0) {
                error = "--timeout expects NAME=DURATION (e.g. connect=2s), got \"" + t + "\"";
                return false;
            }
            yaml += "  " + quoted(t.substr(0, eq)) + ": " + quoted(t.substr(eq + 1)) + "\n";
        }
    }
    if (!q.access_log.empty() && q.access_log != "off") {
        yaml += "access_log:\n  path: " + quoted(q.access_log) + "\n";
    }
    return true;
}

int main(int argc, char** argv) {
    CLI::App app{"usher: a fast, strict reverse proxy and load balancer.", "usher"};
    app.footer(kExamples);
    app.set_version_flag("-V,--version", std::string("usher ") + USHER_VERSION);

    std::string config_file;
    std::string workers_text;
    std::string log_level_text;
    QuickOptions quick;
    quick.access_log = "off";

    auto add_common = [&](CLI::App& a, bool with_config) {
        if (with_config) {
            a.add_option("-c,--config", config_file, "Config file (YAML), see docs/config.md");
        }
        a.add_option("-w,--workers", workers_text,
                     "Worker threads: a number or 'auto' (one per core); overrides the config");
        a.add_option("-l,--log-level", log_level_text,
                     "trace|debug|info|warn|error|off; overrides the config");
    };
    add_common(app, true);
    app.add_option("--listen", quick.listen, "Quick mode: address to listen on (host:port, :port)");
    app.add_option("--to", quick.to, "Quick mode: a backend (http://host:port); repeatable");
    app.add_option("--timeout", quick.timeouts,
                   "Quick mode: NAME=DURATION (connect, request_header, client_idle, "
                   "upstream_header, upstream_idle, total); repeatable");
    app.add_option("--access-log", quick.access_log, "Quick mode: FILE, - (stdout) or off");

    auto* run_cmd = app.add_subcommand("run", "Run with a config file (the default)");
    auto* check_cmd = app.add_subcommand("check", "Validate a config file and print a summary");
    add_common(*run_cmd, true);
    add_common(*check_cmd, true);
    std::string reload_config, reload_admin, reload_token;
    auto* reload_cmd = app.add_subcommand(
        "reload", "Reload a running usher through its admin API (POST /config/reload)");
    reload_cmd->add_option("-c,--config", reload_config,
                           "Read the admin address and token from this config file");
    reload_cmd->add_option("--admin", reload_admin,
                           "Admin API address (default: the config's, else 127.0.0.1:9901)");
    reload_cmd->add_option("--token", reload_token,
                           "Bearer token of the admin API (default: the config's; also "
                           "USHER_ADMIN_TOKEN)");
    app.require_subcommand(0, 1);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "usher: " << e.what() << " (see usher --help)\n";
        return 2;
    }

    auto usage_error = [](const std::string& msg) {
        std::cerr << "usher: " << msg << " (see usher --help)\n";
        return 2;
    };
    if (reload_cmd->parsed()) {
        if (reload_token.empty()) {
            if (const char* env = std::getenv("USHER_ADMIN_TOKEN")) {
                reload_token = env;
            }
        }
        return reload_command(reload_config, reload_admin, reload_token);
    }

    // Validate the overrides first: they apply in every mode.
    std::optional<unsigned> workers;
    if (!workers_text.empty() && workers_text != "auto") {
        char* end = nullptr;
        errno = 0;
        unsigned long n = std::strtoul(workers_text.c_str(), &end, 10);
        if (errno != 0 || end == workers_text.c_str() || *end != '\0' || n < 1 || n > 1024 ||
            workers_text[0] == '-' || workers_text[0] == '+') {
            return usage_error("--workers must be 'auto' or a number from 1 to 1024, got \"" +
                               workers_text + "\"");
        }
        workers = static_cast<unsigned>(n);
    } else if (workers_text == "auto") {
        workers = 0;
    }
    std::optional<log::Level> level;
    if (!log_level_text.empty()) {
        log::Level l;
        if (!log::parse_level(log_level_text, l)) {
            return usage_error(
                "--log-level must be one of trace, debug, info, warn, error, off; got \"" +
                log_level_text + "\"");
        }
        level = l;
    }

    bool quick_mode = !quick.listen.empty() || !quick.to.empty();
    bool checking = check_cmd->parsed();
    if (quick_mode && (!config_file.empty() || checking || run_cmd->parsed())) {
        return usage_error("--listen/--to (quick mode) cannot be combined with a config file");
    }
    bool quick_flags = !quick.timeouts.empty() || quick.access_log != "off";
    if (!quick_mode && quick_flags) {
        return usage_error("--timeout and --access-log belong to quick mode (--listen and --to)");
    }

    config::LoadResult loaded;
    if (quick_mode) {
        if (quick.listen.empty()) {
            return usage_error("quick mode needs --listen ADDRESS");
        }
        if (quick.to.empty()) {
            return usage_error("quick mode needs at least one --to BACKEND");
        }
        std::string yaml, error;
        if (!quick_config_yaml(quick, yaml, error)) {
            return usage_error(error);
        }
        loaded = config::load_string(yaml, "<command line>");
    } else {
        if (config_file.empty()) {
            return usage_error(checking ? "check needs -c FILE"
                                        : "nothing to do: give -c FILE, or --listen and --to");
        }
        loaded = config::load_file(config_file);
    }
    if (!loaded.ok()) {
        print_errors(loaded.errors);
        return 1;
    }
    auto cfg = loaded.config;
    if (workers) {
        cfg->workers = *workers;
    }
    if (level) {
        cfg->log_level = static_cast<config::LogLevel>(*level);
    }
    // Certificates, keys, OCSP responses and CA files of TLS listeners (the loader checks only
    // the structure); the server checks them again when it starts.
    if (checking) {
        if (const auto tls_errors = net::check_tls_config(*cfg); !tls_errors.empty()) {
            for (const auto& e : tls_errors) {
                std::cerr << cfg->source << ": " << e << '\n';
            }
            std::cerr << tls_errors.size() << (tls_errors.size() == 1 ? " error" : " errors")
                      << '\n';
            return 1;
        }
        std::cout << cfg->source << ": ok: " << config::summary(*cfg) << '\n';
        return 0;
    }
    log::set_level(static_cast<log::Level>(cfg->log_level));
    // SIGUSR2 starts the binary found at the same path again (a new build installed there takes
    // over): a bare name is resolved to the running executable's path now.
    std::vector<std::string> command(argv, argv + argc);
    if (command.front().find('/') == std::string::npos) {
        char self[4096];
        const auto n = ::readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            command.front().assign(self, static_cast<std::size_t>(n));
        }
    }
    server::Server server(std::move(cfg),
                          {.log_level_from_cli = level.has_value(), .argv = std::move(command)});
    return server.run();
}

}  // namespace usher::cli
