#pragma once
// The whole configuration as JSON, the schema of the configuration file, the
// state file and the REST API: parse_config(to_json(c)) == c.
#include <nlohmann/json.hpp>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// Types and formats only; check_config (daemon_checks.hpp) does the rest:
// the engine's semantic checks (unique names and marks, known schedulers...),
// then the daemon's own (marks within mark_mask). Throws ConfigFieldError.
DaemonConfig config_from_json(const nlohmann::json& j);
// config_from_json, then check_config: for tools and tests that want a
// checked configuration and nothing more. Throws ConfigFieldError.
DaemonConfig parse_config(const nlohmann::json& j);
nlohmann::json to_json(const DaemonConfig& c);

}  // namespace sipvsd
