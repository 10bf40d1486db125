// Round robin: each pick takes the next available server in configuration order.
#include "scheduler_util.hpp"

namespace sipvs::detail {
namespace {

class RoundRobin final : public Scheduler {
 public:
  explicit RoundRobin(const std::vector<SchedServer>& servers)
      : available_(available_indices(servers)) {}

  std::string_view name() const override { return "rr"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    if (available_.empty()) return std::nullopt;
    // A 64-bit counter never wraps in practice, so the modulo never jumps.
    return available_[next_.fetch_add(1, std::memory_order_relaxed) % available_.size()];
  }

 private:
  const std::vector<uint32_t> available_;
  alignas(kCacheLine) std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Scheduler> make_rr(std::vector<SchedServer> servers) {
  return std::make_unique<RoundRobin>(servers);
}

}  // namespace sipvs::detail
