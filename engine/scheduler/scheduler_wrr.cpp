// Weighted round robin in IPVS's interleaved order. IPVS walks the servers
// with a current weight cw that starts at the largest weight and steps down by
// the gcd each time the walk wraps, picking every server whose weight is at
// least cw: weights 4,3,2 give a a b a b c a b c. That order is periodic, so it
// is computed once here and picks index it with an atomic counter: the same
// order with no lock. A full server (at its max_calls) is passed over for the
// next one in the order, the cursor with it, as IPVS's loop does.
#include <algorithm>

#include "engine/scheduler/scheduler_util.hpp"

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

// One period of picks, and where each of its rounds begins: round k has
// cw = top_cw - k.
struct Rotation {
  std::vector<uint32_t> order;
  std::vector<uint32_t> round_start;
};

// Servers join the rotation as cw falls to their weight; within a round they
// keep configuration order. Work is linear in the period.
Rotation ipvs_period(const std::vector<uint32_t>& index, const std::vector<uint32_t>& weight) {
  std::vector<uint32_t> by_weight(index.size());
  for (uint32_t p = 0; p < by_weight.size(); ++p) by_weight[p] = p;
  std::stable_sort(by_weight.begin(), by_weight.end(),
                   [&](uint32_t a, uint32_t b) { return weight[a] > weight[b]; });
  std::vector<uint32_t> active;
  Rotation r;
  std::size_t joined = 0;
  for (uint32_t cw = by_weight.empty() ? 0 : weight[by_weight[0]]; cw > 0; --cw) {
    for (; joined < by_weight.size() && weight[by_weight[joined]] >= cw; ++joined) {
      const uint32_t p = by_weight[joined];
      active.insert(std::lower_bound(active.begin(), active.end(), p), p);
    }
    r.round_start.push_back(static_cast<uint32_t>(r.order.size()));
    for (uint32_t p : active) r.order.push_back(index[p]);
  }
  return r;
}

class WeightedRoundRobin final : public Scheduler {
 public:
  explicit WeightedRoundRobin(const std::vector<SchedServer>& servers)
      : servers_(servers), members_(available_indices(servers)) {
    std::vector<uint32_t> weight;
    for (uint32_t i : members_) weight.push_back(servers[i].weight);
    if (!weight.empty()) max_weight_ = *std::max_element(weight.begin(), weight.end());
    rotation_ = ipvs_period(members_, reduced_weights(std::move(weight)));
  }

  std::string_view name() const override { return "wrr"; }

  std::optional<std::size_t> pick(const SchedRequest&) override {
    if (rotation_.order.empty()) return std::nullopt;
    const uint64_t next = next_.fetch_add(1, std::memory_order_relaxed);
    const uint32_t i = rotation_.order[next % rotation_.order.size()];
    return is_full(servers_[i].overloaded) ? past_full(next) : std::optional<std::size_t>(i);
  }

  // The same rotation keeps its position. Another one takes up the round:
  // IPVS's wrr, told that the servers changed, keeps its current weight cw
  // and starts that round again from the first server.
  void continue_from(const Scheduler& previous) override {
    const auto* before = dynamic_cast<const WeightedRoundRobin*>(&previous);
    if (!before || before->rotation_.order.empty() || rotation_.order.empty()) return;
    const uint64_t position = before->next_.load(std::memory_order_relaxed) % before->rotation_.order.size();
    if (same_rotation(*before)) {
      next_.store(position, std::memory_order_relaxed);
      return;
    }
    // The next pick's cw, as a weight: a rotation's weights are the servers'
    // scaled so that the largest is its top cw.
    const auto& starts = before->rotation_.round_start;
    const uint64_t round = std::upper_bound(starts.begin(), starts.end(), position) - starts.begin() - 1;
    const uint64_t cw_weight = (before->top_cw() - round) * before->max_weight_ / before->top_cw();
    const uint64_t cw = std::clamp<uint64_t>((cw_weight * top_cw() + max_weight_ - 1) / max_weight_, 1, top_cw());
    next_.store(rotation_.round_start[top_cw() - cw], std::memory_order_relaxed);
  }

 private:
  uint64_t top_cw() const { return rotation_.round_start.size(); }

  // On along the rotation from `next`, a full server, to the first one that
  // is not. The walk can be as long as the period when only the lightest
  // server is left, so first a look at each server: none at all when every
  // one is full.
  std::optional<std::size_t> past_full(uint64_t next) {
    if (std::ranges::all_of(members_, [&](uint32_t i) { return is_full(servers_[i].overloaded); })) return std::nullopt;
    const std::size_t n = rotation_.order.size();
    for (std::size_t passed = 1; passed < n; ++passed) {
      const uint32_t i = rotation_.order[(next + passed) % n];
      if (is_full(servers_[i].overloaded)) continue;
      next_.fetch_add(passed, std::memory_order_relaxed);
      return i;
    }
    return std::nullopt;  // the last one filled up meanwhile
  }

  bool same_rotation(const WeightedRoundRobin& other) const {
    return std::equal(rotation_.order.begin(), rotation_.order.end(), other.rotation_.order.begin(),
                      other.rotation_.order.end(), [&](uint32_t mine, uint32_t theirs) {
                        return same_endpoint(servers_[mine], other.servers_[theirs]);
                      });
  }

  const std::vector<SchedServer> servers_;
  const std::vector<uint32_t> members_;  // the available servers, each once
  uint64_t max_weight_ = 0;  // of the available servers
  Rotation rotation_;
  alignas(kCacheLine) std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Scheduler> make_wrr(std::vector<SchedServer> servers) {
  return std::make_unique<WeightedRoundRobin>(servers);
}

}  // namespace sipvs::detail
