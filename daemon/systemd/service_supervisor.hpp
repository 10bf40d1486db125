#pragma once
// sipvsd as a systemd service (Type=notify, libsystemd's sd_notify):
// READY=1 once it serves (queues bound, templates restored, API listening),
// a STATUS= line every tick, and WATCHDOG=1 only while every queue worker
// comes round its loop, so that systemd restarts a sipvsd whose worker is
// stuck; the templates are written first where the process still can.
// Without NOTIFY_SOCKET (not started by systemd) it sends nothing.
// Owned and called by the main thread only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sipvsd {

class ControlPlane;
class Daemon;

class ServiceSupervisor {
 public:
  ServiceSupervisor(Daemon& daemon, ControlPlane& control, std::vector<uint16_t> queues);

  // How long the main thread may wait between ticks; none when there is
  // nothing to send (not started by systemd).
  std::optional<std::chrono::milliseconds> tick_interval() const;
  void ready();  // once every part has started
  void tick();   // at tick_interval() or sooner
  void stopping();

 private:
  std::string status();
  void watch_workers();

  Daemon& daemon_;
  ControlPlane& control_;
  const std::vector<uint16_t> queues_;
  const bool managed_;                                 // NOTIFY_SOCKET is set
  std::optional<std::chrono::microseconds> watchdog_;  // WatchdogSec= for this process
  uint64_t last_packets_ = 0;
  std::chrono::steady_clock::time_point last_tick_;
  std::optional<uint16_t> stuck_;  // the queue whose worker was found stuck,
                                   // until it comes round again
};

}  // namespace sipvsd
