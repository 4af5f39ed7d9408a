#pragma once
// Internal to config/: reads the top-level `admin` section (the admin listener: listen address,
// optional bearer token). Called by loader.cpp after the listeners were read, so an admin address
// that collides with a listener's is reported here.
#include "config/config.hpp"
#include "config/yaml_reader.hpp"

namespace usher::config::detail {

// Sets config.admin from `f`; errors go to `r`.
void read_admin(Reader& r, const Field& f, Config& config);

}  // namespace usher::config::detail
