#pragma once
// What sipvsd tells systemd about itself, decided without systemd: whether
// every queue worker still comes round its loop (the watchdog's condition)
// and the one-line STATUS= summary. service_supervisor.hpp sends them.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sipvsd {

struct WorkerRound {
  uint16_t queue = 0;
  std::chrono::steady_clock::time_point last;  // the worker's last round of its loop
};

// The first queue whose worker has not come round its loop within `limit`
// of `now`, if any.
std::optional<uint16_t> stuck_queue(const std::vector<WorkerRound>& rounds, std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::duration limit);

struct StatusFigures {
  std::vector<uint16_t> queues;  // configured
  std::size_t queues_bound = 0;  // of those, bound to this process as the kernel lists them
  std::size_t services = 0;
  uint64_t templates = 0;
  uint64_t templates_max = 0;
  uint64_t packets_per_second = 0;
};

// e.g. "queues 0-1 (2 of 2 bound), 2 services, 1234 of 1000000 templates, 150
// packets/s"
std::string status_line(const StatusFigures& figures);

}  // namespace sipvsd
