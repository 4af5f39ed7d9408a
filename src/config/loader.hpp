#pragma once
// The config loader: YAML text -> validated Config. The only user of yaml-cpp (nothing from it
// leaks through this header). Called at start-up and on reload by main/cli and server.
//
// Loading never stops at the first problem: every error found (YAML syntax, unknown keys, wrong
// types, bad values, broken cross references) comes back as a Diagnostic, sorted by position.
// A YAML syntax error ends parsing, so it is the only error reported for that file.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace usher::config {

struct Diagnostic {
    std::string file;  // the source name as given (path or test name)
    int line = 0;      // 1-based, as an editor shows it; 0 = the whole file (e.g. cannot read it)
    int column = 0;    // 1-based
    std::string path;  // field path: "listeners[0].address", "clusters.api.endpoints[1]"; may be ""
    std::string message;

    // "usher.yaml:14:7: clusters.api.endpoints[1]: port 99999 is out of range (1-65535)";
    // without a position "usher.yaml: ...", without a path "usher.yaml:3:1: ...".
    std::string to_string() const;
};

struct LoadResult {
    std::shared_ptr<Config> config;  // set only when there are no errors
    std::vector<Diagnostic> errors;
    bool ok() const { return config != nullptr && errors.empty(); }
};

// Reads and loads a file. A missing or unreadable file is one Diagnostic naming the file and the
// system's reason (strerror). Config::source is set to `path`.
LoadResult load_file(const std::string& path);

// Loads YAML text; `source_name` appears in diagnostics and in Config::source.
LoadResult load_string(std::string_view yaml, std::string source_name);

// One line for `usher check` and the start-up log:
// "3 listeners, 12 routes, 4 clusters (23 endpoints)" (singular for 1).
std::string summary(const Config& config);

}  // namespace usher::config
