#pragma once
// The daemon's configuration file (JSON): read and parsed (config_json.hpp);
// what takes it checks it (daemon_checks.hpp).
#include <stdexcept>
#include <string>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// A file sipvsd cannot start with: the configuration file, or a state file
// that exists, when unreadable, not JSON ("path:line:column: reason"), with
// a bad field ("path: field: reason") or, for a state file, of a newer
// format. A state file's message ends with the way out.
class UnusableFile : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and parses a file: JSON of the configuration's types and formats.
// Throws UnusableFile.
DaemonConfig load_config_file(const std::string& path);

}  // namespace sipvsd
