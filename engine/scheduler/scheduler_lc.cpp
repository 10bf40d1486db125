// Least connections: the available server with the fewest live templates;
// ties go to the first in configuration order, as in IPVS. A full server
// (at its max_calls) is passed over, as ip_vs_lc_schedule passes an overloaded one.
#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs::detail {
namespace {

class LeastConnections final : public Scheduler {
 public:
  explicit LeastConnections(const std::vector<SchedServer>& servers) {
    for (uint32_t i : available_indices(servers))
      candidates_.push_back({i, servers[i].live_templates, servers[i].overloaded});
  }

  std::string_view name() const override { return "lc"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    std::optional<std::size_t> best;
    int64_t least = 0;
    for (const Candidate& c : candidates_) {
      if (is_full(c.overloaded)) continue;
      const int64_t live = live_count(c.live);
      if (!best || live < least) {
        best = c.index;
        least = live;
      }
    }
    return best;
  }

 private:
  struct Candidate {
    uint32_t index;
    const std::atomic<int64_t>* live;
    const std::atomic<bool>* overloaded;
  };
  std::vector<Candidate> candidates_;
};

}  // namespace

std::unique_ptr<Scheduler> make_lc(std::vector<SchedServer> servers) {
  return std::make_unique<LeastConnections>(servers);
}

}  // namespace sipvs::detail
