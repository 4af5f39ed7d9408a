#pragma once
// The command line (CLI11): `usher -c FILE`, `usher run -c FILE`, `usher check -c FILE`, quick
// mode (`--listen ADDR --to URL...`), `--version`. Exit codes (documented in README.md):
//   0  ran and stopped cleanly / config valid
//   1  config invalid, a file missing, or start-up failed (bind, resolve)
//   2  bad command line (unknown flag, missing value, conflicting options)
#include <string>
#include <vector>

namespace usher::cli {

int main(int argc, char** argv);

// Quick mode builds this YAML and loads it through the normal loader, so its values get the same
// validation and messages as a config file. Exposed for tests.
struct QuickOptions {
    std::string listen;
    std::vector<std::string> to;
    std::vector<std::string> timeouts;  // "NAME=DURATION"
    std::string access_log;             // "" = off
};
// Returns false with `error` set when an option cannot be expressed (e.g. --timeout without '=').
bool quick_config_yaml(const QuickOptions& q, std::string& yaml, std::string& error);

}  // namespace usher::cli
