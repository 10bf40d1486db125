// Weighted least connections: the available server with the smallest
// live/weight; ties go to the first in configuration order, as in IPVS. A
// full server (at its max_calls) is passed over, as ip_vs_wlc_schedule
// passes an overloaded one.
#include <algorithm>

#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs::detail {
namespace {

class WeightedLeastConnections final : public Scheduler {
 public:
  explicit WeightedLeastConnections(const std::vector<SchedServer>& servers) {
    for (uint32_t i : available_indices(servers))
      candidates_.push_back({i, servers[i].weight, servers[i].live_templates, servers[i].overloaded});
  }

  std::string_view name() const override { return "wlc"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    std::optional<std::size_t> best;
    uint64_t best_live = 0, best_weight = 1;
    for (const Candidate& c : candidates_) {
      if (is_full(c.overloaded)) continue;
      // Counts saturate at 2^32 - 1, far beyond any template table, so the
      // cross products below fit in 64 bits.
      const uint64_t live = std::clamp<int64_t>(live_count(c.live), 0, UINT32_MAX);
      // live/weight < best_live/best_weight, cross-multiplied as IPVS does.
      if (!best || live * best_weight < best_live * c.weight) {
        best = c.index;
        best_live = live;
        best_weight = c.weight;
      }
    }
    return best;
  }

 private:
  struct Candidate {
    uint32_t index;
    uint32_t weight;
    const std::atomic<int64_t>* live;
    const std::atomic<bool>* overloaded;
  };
  std::vector<Candidate> candidates_;
};

}  // namespace

std::unique_ptr<Scheduler> make_wlc(std::vector<SchedServer> servers) {
  return std::make_unique<WeightedLeastConnections>(servers);
}

}  // namespace sipvs::detail
