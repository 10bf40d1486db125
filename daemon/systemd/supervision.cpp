#include "daemon/systemd/supervision.hpp"

#include "daemon/config/queue_spec.hpp"

namespace sipvsd {

std::optional<uint16_t> stuck_queue(const std::vector<WorkerRound>& rounds, std::chrono::steady_clock::time_point now,
                                    std::chrono::steady_clock::duration limit) {
  for (const WorkerRound& r : rounds)
    if (now - r.last > limit) return r.queue;
  return std::nullopt;
}

std::string status_line(const StatusFigures& f) {
  return "queues " + queue_spec_to_string(f.queues) + " (" + std::to_string(f.queues_bound) + " of " +
         std::to_string(f.queues.size()) + " bound), " + std::to_string(f.services) +
         (f.services == 1 ? " service, " : " services, ") + std::to_string(f.templates) + " of " +
         std::to_string(f.templates_max) + " templates, " + std::to_string(f.packets_per_second) + " packets/s";
}

}  // namespace sipvsd
