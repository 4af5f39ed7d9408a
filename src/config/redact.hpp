#pragma once
// The running config as an operator may see it (admin API `GET /config`): the YAML it was loaded
// from, re-emitted with every secret replaced by "<redacted>". Secrets are the admin token;
// certificate and key files are named by path in the YAML and their contents never appear.
// Called by admin/ on the admin thread (yaml-cpp stays inside config/).
#include <string>

#include "config/config.hpp"

namespace usher::config {

inline constexpr const char* kRedacted = "<redacted>";

// Config::text with secrets redacted, as YAML (comments are not kept). A config without text
// (built in code) gives "{}\n".
std::string redacted_yaml(const Config& config);

}  // namespace usher::config
