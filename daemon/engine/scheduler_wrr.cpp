// Weighted round robin in IPVS's interleaved order. IPVS walks the servers
// with a current weight cw that starts at the largest weight and steps down by
// the gcd each time the walk wraps, picking every server whose weight is at
// least cw: weights 4,3,2 give a a b a b c a b c. That order is periodic, so it
// is computed once here and picks index it with an atomic counter: the same
// order with no lock.
#include <algorithm>

#include "scheduler_util.hpp"

namespace sipvs::detail {
namespace {

constexpr std::size_t kMaxPeriod = 65536;

// One period has sum(weight / gcd) entries. A longer period is scaled down
// proportionally to at most kMaxPeriod entries, every nonzero weight keeping
// at least 1 (so each ratio shifts by under one unit); only more servers than
// kMaxPeriod exceed it, at one entry each.
std::vector<uint32_t> reduced_weights(std::vector<uint32_t> weights) {
  const uint32_t g = weight_gcd(weights);
  uint64_t total = 0;
  for (uint32_t& w : weights) total += (w /= g);
  if (total <= kMaxPeriod) return weights;
  const uint64_t budget = weights.size() < kMaxPeriod ? kMaxPeriod - weights.size() : 0;
  for (uint32_t& w : weights) w = static_cast<uint32_t>(std::max<uint64_t>(1, w * budget / total));
  const uint32_t g2 = weight_gcd(weights);
  for (uint32_t& w : weights) w /= g2;
  return weights;
}

// Servers join the rotation as cw falls to their weight; within a round they
// keep configuration order. Work is linear in the period.
std::vector<uint32_t> ipvs_period(const std::vector<uint32_t>& index, const std::vector<uint32_t>& weight) {
  std::vector<uint32_t> by_weight(index.size());
  for (uint32_t p = 0; p < by_weight.size(); ++p) by_weight[p] = p;
  std::stable_sort(by_weight.begin(), by_weight.end(),
                   [&](uint32_t a, uint32_t b) { return weight[a] > weight[b]; });
  std::vector<uint32_t> active, period;
  std::size_t joined = 0;
  for (uint32_t cw = by_weight.empty() ? 0 : weight[by_weight[0]]; cw > 0; --cw) {
    for (; joined < by_weight.size() && weight[by_weight[joined]] >= cw; ++joined) {
      const uint32_t p = by_weight[joined];
      active.insert(std::lower_bound(active.begin(), active.end(), p), p);
    }
    for (uint32_t p : active) period.push_back(index[p]);
  }
  return period;
}

class WeightedRoundRobin final : public Scheduler {
 public:
  explicit WeightedRoundRobin(const std::vector<SchedServer>& servers) {
    const std::vector<uint32_t> index = available_indices(servers);
    std::vector<uint32_t> weight;
    for (uint32_t i : index) weight.push_back(servers[i].weight);
    period_ = ipvs_period(index, reduced_weights(std::move(weight)));
  }

  std::string_view name() const override { return "wrr"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    if (period_.empty()) return std::nullopt;
    return period_[next_.fetch_add(1, std::memory_order_relaxed) % period_.size()];
  }

 private:
  std::vector<uint32_t> period_;
  alignas(kCacheLine) std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Scheduler> make_wrr(std::vector<SchedServer> servers) {
  return std::make_unique<WeightedRoundRobin>(servers);
}

}  // namespace sipvs::detail
