#pragma once
// The running daemon: the engine, one NFQUEUE worker per queue and the
// housekeeping thread, plus the control-plane entry points that SIGHUP and the
// REST API share (apply a whole new configuration atomically, read counters).
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config_file.hpp"
#include "engine.hpp"
#include "forwarding.hpp"
#include "health_check.hpp"
#include "nfqueue.hpp"
#include "queue_counters.hpp"

namespace sipvsd {

class Daemon {
 public:
  // `queue_override` (from --queue) wins over the file's queues, also on reload.
  // Throws std::invalid_argument if the engine rejects the configuration.
  explicit Daemon(DaemonConfig config, std::optional<std::vector<uint16_t>> queue_override = std::nullopt);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Binds the queues, then starts the workers and housekeeping; throws
  // std::system_error if a queue cannot be bound.
  void start();
  // Stops the workers (they unbind their queues) and housekeeping.
  void stop();

  // Replaces the configuration: validated first, then published to the
  // engine atomically (workers decide with the old or the new one, never a
  // mix). Returns the error and changes nothing if it is invalid. Queues and
  // queue_maxlen only change on restart (a warning says so).
  std::optional<ConfigFieldError> apply(DaemonConfig next);

  DaemonConfig config() const;
  sipvs::Engine& engine() { return engine_; }
  std::vector<QueueStats> queue_stats() const;  // thread-safe; empty once stopped
  std::vector<HealthStatus> health_statuses() const { return health_.statuses(); }  // thread-safe

  // Logs counters, per-server statistics and up to `max_templates` templates.
  void log_dump(std::size_t max_templates) const;

 private:
  void housekeeping();
  void report_template_pressure();  // housekeeping only
  uint64_t reported_table_full_ = 0, reported_rate_limited_ = 0;

  mutable std::mutex mutex_;  // guards config_ and serialises apply()
  DaemonConfig config_;
  std::optional<std::vector<uint16_t>> queue_override_;
  sipvs::Engine engine_;
  mutable std::mutex workers_mutex_;  // guards workers_ (queue_stats() vs start/stop)
  std::vector<std::unique_ptr<QueueWorker>> workers_;
  ForwardingController forwarding_;  // the kernel's mark -> real server mapping
  HealthChecker health_;             // SIP OPTIONS probes; marks servers up/down in engine_

  std::thread housekeeper_;
  std::mutex hk_mutex_;
  std::condition_variable hk_cv_;
  bool hk_stop_ = false;
};

}  // namespace sipvsd
