#pragma once
// The checks of a whole, already parsed configuration (parse_config runs them
// too): the engine's validation, then the daemon's own.
#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// Engine validation, marks within mark_mask, queue limits, the forwarding
// back-end's needs, health probes of the servers' address family, an API
// that listens somewhere and, off the loopback, only with a token.
// Throws ConfigFieldError.
void check_config(const DaemonConfig& c);

}  // namespace sipvsd
