#pragma once
// The running daemon: the engine, one NFQUEUE worker per queue, the
// forwarding back-end, the health checker and the housekeeping thread. It
// holds no configuration of its own: the control plane owns it and hands
// each validated change to apply().
#include <condition_variable>
#include "engine/thread_safety.hpp"
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/config/daemon_config.hpp"
#include "engine/engine.hpp"
#include "daemon/forwarding/forwarding.hpp"
#include "daemon/health/health_check.hpp"
#include "daemon/health/server_health_agreement.hpp"
#include "daemon/datapath/nfqueue.hpp"
#include "daemon/datapath/queue_counters.hpp"
#include "daemon/fastpath/fast_path.hpp"
#include "daemon/sync/sync_service.hpp"
#include "daemon/systemd/supervision.hpp"

namespace sipvsd {

class Daemon {
 public:
  // The engine starts with `config`'s services.
  explicit Daemon(const CheckedConfig& config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Sets up forwarding and template sync, binds `config`'s queues, then
  // starts the workers, housekeeping and health checks; throws
  // ForwardingError, std::runtime_error (the sync key or address), or
  // std::system_error if a queue cannot be bound.
  void start(const DaemonConfig& config);
  // Stops the workers (they unbind their queues) and housekeeping.
  void stop();

  // Puts `next`, checked by the control plane, into effect in place of
  // `running`: forwarding first, then the engine atomically (workers decide
  // with the old or the new one, never a mix), then health checks. Returns
  // the error, having changed nothing, if the forwarding or the engine
  // cannot take it. Settings that need a restart are the same in both.
  // Called by the control plane only, one change at a time.
  std::optional<ConfigFieldError> apply(const CheckedConfig& next, const DaemonConfig& running);
  sipvs::Engine& engine() { return engine_; }
  std::vector<QueueStats> queue_stats() const;  // thread-safe; empty once stopped
  // Each queue worker's last round of its loop (thread-safe; empty once stopped).
  std::vector<WorkerRound> worker_rounds() const;
  // Thread-safe; with a shared health agreement, each says which peers see it down.
  std::vector<HealthStatus> health_statuses() const;
  // Template sync's state; none when sync is off. Thread-safe once started.
  std::optional<SyncStatus> sync_status() const;
  // The eBPF fast path's counters; none when it is off. Thread-safe once started.
  std::optional<FastPathStats> fast_path_stats() const;

  // Logs counters, per-server statistics and up to `max_templates` templates.
  void log_dump(std::size_t max_templates) const;

 private:
  void housekeeping();
  void report_template_pressure();  // housekeeping only
  bool refresh_senders();           // housekeeping, start() and apply()
  void await_senders();             // start() and apply()
  uint64_t reported_table_full_ = 0, reported_rate_limited_ = 0;
  sipvs::Mutex senders_mutex_;  // refresh_senders() runs on one thread at a time
  uint64_t neighbour_failures_ SIPVS_GUARDED_BY(senders_mutex_) = 0;  // the log's rate limit
  unsigned quick_sender_checks_ = 0;  // housekeeping only

  sipvs::Engine engine_;
  // Set by start() when on; the engine's template mirror from then on, kept
  // until destruction (the workers and the engine's expiry use it).
  std::unique_ptr<FastPath> fast_path_;
  mutable sipvs::Mutex workers_mutex_;  // queue_stats() vs start/stop
  std::vector<std::unique_ptr<QueueWorker>> workers_ SIPVS_GUARDED_BY(workers_mutex_);
  // Which host sent a message out, by link-layer address: housekeeping
  // publishes, the workers read (declared before them: they hold views).
  SenderMaps senders_;
  ForwardingController forwarding_;  // the kernel's mark -> real server mapping
  ServerHealthAgreement agreement_;  // marks servers up/down in engine_, from health_'s probes and the peers'
  HealthChecker health_;             // SIP OPTIONS probes
  std::unique_ptr<SyncService> sync_;  // set by start() when sync is on, kept until destruction

  std::thread housekeeper_;
  sipvs::Mutex hk_mutex_;
  std::condition_variable_any hk_cv_;
  bool hk_stop_ SIPVS_GUARDED_BY(hk_mutex_) = false;
};

}  // namespace sipvsd
