#include "config/redact.hpp"

#include <yaml-cpp/yaml.h>

namespace usher::config {

std::string redacted_yaml(const Config& config) {
    if (config.text.empty()) {
        return "{}\n";
    }
    YAML::Node root;
    try {
        root = YAML::Load(config.text);
    } catch (const YAML::Exception&) {
        return "{}\n";  // cannot happen for a config that loaded; never leak the raw text
    }
    if (root.IsMap() && root["admin"] && root["admin"].IsMap() && root["admin"]["token"]) {
        root["admin"]["token"] = kRedacted;
    }
    YAML::Emitter out;
    out << root;
    std::string text = out.c_str();
    text.push_back('\n');
    return text;
}

}  // namespace usher::config
