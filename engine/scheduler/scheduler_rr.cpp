// Round robin: each pick takes the next available server in configuration
// order. A full server (at its max_calls) is passed over for the one after
// it, and the cursor moves past both, as ip_vs_rr_schedule's loop leaves it
// on the server it picked: the others keep even turns.
#include <algorithm>

#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs::detail {
namespace {

class RoundRobin final : public Scheduler {
 public:
  explicit RoundRobin(const std::vector<SchedServer>& servers)
      : servers_(servers), available_(available_indices(servers)) {}

  std::string_view name() const override { return "rr"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    const std::size_t n = available_.size();
    // A 64-bit counter never wraps in practice, so the modulo never jumps.
    const uint64_t next = n ? next_.fetch_add(1, std::memory_order_relaxed) : 0;
    for (std::size_t passed = 0; passed < n; ++passed) {
      const uint32_t i = available_[(next + passed) % n];
      if (is_full(servers_[i].overloaded)) continue;
      if (passed) next_.fetch_add(passed, std::memory_order_relaxed);
      return i;
    }
    return std::nullopt;
  }

  // As ip_vs_rr: the cursor stays on the server picked last and the next
  // pick is the available server after it; when that server is gone, the
  // cursor falls back to the nearest one before it that is still there.
  void continue_from(const Scheduler& previous) override {
    const auto* before = dynamic_cast<const RoundRobin*>(&previous);
    if (!before || before->available_.empty() || available_.empty()) return;
    const std::size_t n = before->servers_.size();
    const std::size_t last = before->last_picked();
    for (std::size_t back = 0; back < n; ++back) {
      const SchedServer& cursor = before->servers_[(last + n - back) % n];
      for (uint32_t i = 0; i < servers_.size(); ++i) {
        if (!same_endpoint(servers_[i], cursor)) continue;
        const auto after = std::upper_bound(available_.begin(), available_.end(), i);
        next_.store(after == available_.end() ? 0 : after - available_.begin(), std::memory_order_relaxed);
        return;
      }
    }
  }

 private:
  // Index into servers_ of the last pick (of the server before the first
  // pick, when there was none yet).
  std::size_t last_picked() const {
    const uint64_t next = next_.load(std::memory_order_relaxed);
    return available_[(next + available_.size() - 1) % available_.size()];
  }

  const std::vector<SchedServer> servers_;
  const std::vector<uint32_t> available_;
  alignas(kCacheLine) std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Scheduler> make_rr(std::vector<SchedServer> servers) {
  return std::make_unique<RoundRobin>(servers);
}

}  // namespace sipvs::detail
