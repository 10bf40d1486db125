#pragma once
// The checks of a whole, parsed configuration: the engine's validation, then
// the daemon's own. Every configuration sipvsd runs with passes here once.
#include <utility>

#include "daemon/config/daemon_config.hpp"
#include "engine/engine_config.hpp"

namespace sipvsd {

// A daemon configuration that check_config() accepted, with its engine part
// as the engine takes it. Only check_config makes one, so what takes one
// (Daemon, the control plane's applier) does not check it again.
class CheckedConfig {
 public:
  const DaemonConfig& daemon() const { return daemon_; }
  const sipvs::ValidConfig& engine() const { return engine_; }

 private:
  friend CheckedConfig check_config(DaemonConfig c);
  CheckedConfig(DaemonConfig daemon, sipvs::ValidConfig engine)
      : daemon_(std::move(daemon)), engine_(std::move(engine)) {}
  DaemonConfig daemon_;
  sipvs::ValidConfig engine_;
};

// Engine validation, marks within mark_mask, queue limits, the forwarding
// back-end's needs, health probes of the servers' address family, an API
// that listens somewhere and, off the loopback, only with a token.
// Throws ConfigFieldError.
CheckedConfig check_config(DaemonConfig c);

}  // namespace sipvsd
