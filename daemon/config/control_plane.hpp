#pragma once
// The one path for configuration changes, used by the REST API and by SIGHUP
// reload: a candidate is checked once (check_config: the engine's rules, then
// the daemon's), written to the state file, then applied to the engine
// atomically. A rejected candidate changes nothing.
//
// At start, the services come from the state file when it exists (it holds
// what the API last set), else from the config file; the other settings
// always come from the config file (see kStateKeys). A state file that exists
// but cannot be used stops the start: it is never silently replaced. SIGHUP
// re-reads the config file and replaces the services with its own.
#include <atomic>
#include <ctime>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_file.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/config/daemon_config.hpp"
#include "engine/engine.hpp"
#include "engine/thread_safety.hpp"

namespace sipvsd {

class ControlPlane {
 public:
  // The configuration to start with, checked: `from_file` with the state
  // file's settings when that file exists; `from_file` when it does not.
  // Throws ConfigFieldError if `from_file` is not valid on its own, and
  // UnusableFile, leaving the file as it is, if the state file exists and is
  // not valid together with `from_file`'s settings.
  static CheckedConfig startup_config(const DaemonConfig& from_file);

  // Puts a checked configuration (next) into effect in place of the running
  // one (the engine's services, and what lives outside the engine:
  // forwarding, mark mask, unplaced policy, debug level, health checks);
  // returns an error, having changed nothing, if it cannot.
  using Applier =
      std::function<std::optional<ConfigFieldError>(const CheckedConfig& next, const DaemonConfig& running)>;

  // The owner of the running configuration; `current` is what `engine` runs
  // with. Without an applier, changes go to the engine alone (Engine::apply).
  ControlPlane(sipvs::Engine& engine, DaemonConfig current, Applier apply = {});

  DaemonConfig config() const;
  sipvs::Engine& engine() { return engine_; }
  const sipvs::Engine& engine() const { return engine_; }
  uint64_t generation() const;  // counts applied changes; never waits for one in progress
  // For /healthz: never waits for a change in progress (which holds the
  // lock through validation and the state file's fsync).
  std::size_t service_count() const { return service_count_.load(std::memory_order_relaxed); }

  // Runs `edit` on a copy of the current configuration, then validates,
  // persists and applies the result; returns it. Throws ConfigFieldError, or
  // whatever `edit` throws; either way nothing changed. Throws
  // std::system_error if the state file cannot be written (nothing changed).
  // A state file replaced but whose directory could not be synced is a
  // written one: the change is made, with a warning in the log.
  DaemonConfig update(const std::function<void(DaemonConfig&)>& edit);
  // As update(), for an edit of one service or server, which `edit` returns:
  // a clash of that object with another is told from its side
  // (sipvs::edited_conflicts).
  DaemonConfig update_one(const std::function<sipvs::EditedObject(DaemonConfig&)>& edit);
  // Replaces everything; settings that need a restart must stay the same.
  DaemonConfig replace(const DaemonConfig& candidate);
  // SIGHUP: takes the config file's services and live settings; settings that
  // need a restart keep their running values (a warning names them). Logs
  // the outcome, naming `path`; false (nothing changed) if the file's
  // configuration is rejected.
  bool reload(const DaemonConfig& from_file, const std::string& path);

  // Templates across a restart, in "<state_file>.templates". save_templates
  // writes the live ones (periodically, and at shutdown after the workers
  // stopped; thread-safe), throwing std::system_error if it cannot;
  // restore_templates loads them (call before any packet is decided) and
  // leaves the file for the next save to replace, so that a start that fails
  // or a crash before that save still finds them. Both return how many;
  // without a state file they do nothing.
  std::size_t save_templates(std::time_t now);
  std::size_t restore_templates(std::time_t now);
  const std::string& templates_file() const;

 private:
  DaemonConfig commit(DaemonConfig unchecked) SIPVS_REQUIRES(mutex_);

  sipvs::Engine& engine_;
  Applier apply_;
  mutable sipvs::Mutex mutex_;
  DaemonConfig current_ SIPVS_GUARDED_BY(mutex_);
  // The state file's content as last written (or found) by us.
  std::string state_written_ SIPVS_GUARDED_BY(mutex_);
  std::atomic<uint64_t> generation_{0};  // written with mutex_ held
  // state_file needs a restart to change: its templates file is fixed at
  // construction, so the template saver never waits for a change in progress.
  const std::string templates_file_;
  std::atomic<std::size_t> service_count_{0};  // current_'s, written with mutex_ held
  sipvs::Mutex templates_mutex_;  // one templates file write at a time
};

}  // namespace sipvsd
