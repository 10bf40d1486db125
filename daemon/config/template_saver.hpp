#pragma once
// Writes the live templates to the templates file every few seconds while
// sipvsd runs, and a last time at stop, so that the calls in progress keep
// their real server across a crash, an OOM kill or SIGKILL, not only across
// a clean stop: after a crash, the calls whose INVITE came before the last
// write keep theirs.
//
// Cost: one write per interval at most, on a thread of its own. A write
// copies the table one shard at a time (Engine::templates), formats it as
// text without a JSON tree and replaces the file atomically: CPU, memory and
// I/O proportional to the live templates, bounded by max_templates.
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <string>
#include <thread>

#include "daemon/config/control_plane.hpp"
#include "daemon/log.hpp"
#include "engine/thread_safety.hpp"

namespace sipvsd {

class TemplateSaver {
 public:
  // Starts the periodic writes (none if `interval` is 0: only at stop, or
  // without a state file). The next write comes `interval` after the end of
  // the last one, so a write slower than the interval never runs back to back.
  TemplateSaver(ControlPlane& control, std::chrono::seconds interval) : control_(control), interval_(interval) {
    if (interval_.count() > 0 && !control_.templates_file().empty())
      thread_ = std::thread([this] { run(); });
  }
  // Without stop_and_save (a start that failed): no last write, the file
  // keeps what the last one wrote.
  ~TemplateSaver() { stop_periodic(); }
  TemplateSaver(const TemplateSaver&) = delete;
  TemplateSaver& operator=(const TemplateSaver&) = delete;

  // At shutdown, once no worker decides anymore: stops the periodic writes,
  // then saves the templates of the calls in progress a last time.
  void stop_and_save() {
    stop_periodic();
    const std::string& path = control_.templates_file();
    if (path.empty()) return;
    try {
      const std::size_t n = control_.save_templates(std::time(nullptr));
      LOG_NOTICE("saved %zu templates to %s", n, path.c_str());
    } catch (const std::exception& e) {
      LOG_ERR("cannot save the templates: %s", e.what());
    }
  }

 private:
  void run() {
    pthread_setname_np(pthread_self(), "sipvsd-tsave");
    sipvs::MutexLock lock(mutex_);
    // The predicate runs with mutex_ held, which the analysis cannot see through wait_for.
    while (!stop_cv_.wait_for(lock, interval_, [this]() SIPVS_REQUIRES(mutex_) { return stop_; })) {
      lock.unlock();
      save_once();
      lock.lock();
    }
  }

  // Failures are logged when they start and when they end, not every interval.
  void save_once() {
    const auto started = std::chrono::steady_clock::now();
    try {
      const std::size_t n = control_.save_templates(std::time(nullptr));
      if (failing_) LOG_NOTICE("templates saved again to %s", control_.templates_file().c_str());
      failing_ = false;
      LOG_DEBUG(1, "saved %zu templates to %s in %lld ms", n, control_.templates_file().c_str(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count()));
    } catch (const std::exception& e) {
      if (!failing_)
        LOG_ERR("cannot save the templates: %s (retried every %lld s; calls in progress would not keep their "
                "real server after a crash)",
                e.what(), static_cast<long long>(interval_.count()));
      failing_ = true;
    }
  }

  void stop_periodic() {
    {
      sipvs::MutexLock lock(mutex_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  ControlPlane& control_;
  const std::chrono::seconds interval_;
  sipvs::Mutex mutex_;
  std::condition_variable_any stop_cv_;
  bool stop_ SIPVS_GUARDED_BY(mutex_) = false;
  bool failing_ = false;  // the writer thread's own
  std::thread thread_;
};

}  // namespace sipvsd
