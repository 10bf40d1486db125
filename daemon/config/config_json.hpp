#pragma once
// The whole configuration as JSON, the schema of the configuration file, the
// state file and the REST API: parse_config(to_json(c)) == c.
#include <nlohmann/json.hpp>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// Types and formats here, then check_config (daemon_checks.hpp): the
// engine's semantic checks (unique names and marks, known schedulers...),
// then the daemon's own (marks within mark_mask). Throws ConfigFieldError.
DaemonConfig parse_config(const nlohmann::json& j);
nlohmann::json to_json(const DaemonConfig& c);

}  // namespace sipvsd
