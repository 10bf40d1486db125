#include "daemon/systemd/service_supervisor.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>
#include <fstream>

#include "daemon/config/control_plane.hpp"
#include "daemon/daemon.hpp"
#include "daemon/datapath/kernel_queue_stats.hpp"
#include "daemon/log.hpp"
#include "daemon/systemd/supervision.hpp"

namespace sipvsd {

namespace {

std::optional<std::chrono::microseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace

ServiceSupervisor::ServiceSupervisor(Daemon& daemon, ControlPlane& control, std::vector<uint16_t> queues)
    : daemon_(daemon),
      control_(control),
      queues_(std::move(queues)),
      managed_(std::getenv("NOTIFY_SOCKET") != nullptr),
      watchdog_(watchdog_interval()),
      last_tick_(std::chrono::steady_clock::now()) {}

std::optional<std::chrono::milliseconds> ServiceSupervisor::tick_interval() const {
  using std::chrono::milliseconds;
  if (!managed_) return std::nullopt;
  const milliseconds status_every(1000);
  if (!watchdog_) return status_every;
  // Several pings per watchdog period: one late tick must not cost a restart.
  return std::max(milliseconds(10), std::min(status_every, std::chrono::duration_cast<milliseconds>(*watchdog_ / 4)));
}

void ServiceSupervisor::ready() {
  if (!managed_) return;
  last_packets_ = daemon_.engine().stats().packets;
  last_tick_ = std::chrono::steady_clock::now();
  notify("READY=1\nSTATUS=" + status());
  if (watchdog_)
    LOG_NOTICE("systemd watchdog: %lld ms; pinged while every queue worker comes round its loop",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_).count()));
}

void ServiceSupervisor::tick() {
  if (!managed_) return;
  watch_workers();
  notify("STATUS=" + status() + (watchdog_ && !stuck_ ? "\nWATCHDOG=1" : ""));
}

void ServiceSupervisor::stopping() {
  if (managed_) notify("STOPPING=1\nSTATUS=stopping");
}

std::string ServiceSupervisor::status() {
  const sipvs::EngineStats e = daemon_.engine().stats();
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_tick_).count();
  StatusFigures f;
  f.queues = queues_;
  // The kernel's list is root's alone (mode 0440): under the packaged unit a
  // running worker, which bound its queue at start, is all there is to go by.
  const bool kernel_view = std::ifstream(kKernelQueueStatsPath).good();
  for (const QueueStats& q : daemon_.queue_stats()) f.queues_bound += q.kernel || !kernel_view ? 1 : 0;
  f.services = control_.service_count();
  f.templates = e.templates_live;
  f.templates_max = e.templates_max;
  f.packets_per_second =
      seconds > 0 ? static_cast<uint64_t>(static_cast<double>(e.packets - last_packets_) / seconds) : 0;
  last_packets_ = e.packets;
  last_tick_ = now;
  return status_line(f);
}

// A worker that has not come round its loop for half the watchdog period is
// stuck: no more pings, so systemd restarts sipvsd within the period; first,
// the templates of the calls in progress are written for the next start.
void ServiceSupervisor::watch_workers() {
  if (!watchdog_) return;
  const std::optional<uint16_t> stuck =
      stuck_queue(daemon_.worker_rounds(), std::chrono::steady_clock::now(), *watchdog_ / 2);
  if (stuck && !stuck_) {
    const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_ / 2).count();
    LOG_ERR("queue %u: its worker has not come round its loop for %lld ms: no more watchdog pings, systemd will "
            "restart sipvsd",
            *stuck, ms);
    try {
      if (!control_.templates_file().empty())
        LOG_NOTICE("saved %zu templates to %s", control_.save_templates(std::time(nullptr)),
                   control_.templates_file().c_str());
    } catch (const std::exception& e) {
      LOG_ERR("cannot save the templates: %s", e.what());
    }
  } else if (!stuck && stuck_) {
    LOG_NOTICE("queue %u: its worker comes round its loop again: watchdog pings resume", *stuck_);
  }
  stuck_ = stuck;
}

}  // namespace sipvsd
