// Source hashing as IPVS sh: a 256-bucket table shared out by weight, indexed
// by a stable hash of the client address.
//
// Down servers keep their buckets, so a health change never moves the clients
// of another server. A client whose bucket is down probes once more, as IPVS's
// sh-fallback does, but into a second table holding only the available
// servers and with an independent byte of the hash: the down server's clients
// then spread over the others by weight, in one step with no probing loop.
//
// A server at its max_calls is full for as long as it is: that is read at
// each pick. A client whose server is full probes the fallback table, and on
// from there past full servers with a stride of its own (odd, so 256 steps
// see every bucket), as IPVS's sh-fallback probes on past overloaded ones.
#include <algorithm>
#include <array>

#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs::detail {
namespace {

constexpr std::size_t kBuckets = 256;
using Table = std::array<uint32_t, kBuckets>;

// One bucket each, the rest by largest remainder of weight, so every member
// is reachable and the shares follow the weights. Like IPVS, members past the
// 256th get no bucket.
Table weighted_table(const std::vector<SchedServer>& servers, std::vector<uint32_t> members) {
  Table table{};
  if (members.empty()) return table;
  if (members.size() > kBuckets) members.resize(kBuckets);
  const uint64_t spare = kBuckets - members.size();
  uint64_t total = 0;
  for (uint32_t i : members) total += servers[i].weight;
  std::vector<uint64_t> share(members.size()), remainder(members.size());
  uint64_t given = 0;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const uint64_t scaled = servers[members[m]].weight * spare;
    share[m] = 1 + scaled / total;
    remainder[m] = scaled % total;
    given += scaled / total;
  }
  std::vector<std::size_t> order(members.size());
  for (std::size_t m = 0; m < order.size(); ++m) order[m] = m;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
  for (std::size_t k = 0; given + k < spare; ++k) ++share[order[k]];

  std::size_t b = 0;
  for (std::size_t m = 0; m < members.size(); ++m)
    for (uint64_t k = 0; k < share[m]; ++k) table[b++] = members[m];
  return table;
}

class SourceHashing final : public Scheduler {
 public:
  explicit SourceHashing(const std::vector<SchedServer>& servers) {
    std::vector<uint32_t> weighted;  // quiesced servers get no buckets
    for (uint32_t i = 0; i < servers.size(); ++i)
      if (servers[i].weight > 0) weighted.push_back(i);
    const std::vector<uint32_t> available = available_indices(servers);
    if (available.empty()) return;
    primary_ = weighted_table(servers, weighted);
    fallback_ = weighted_table(servers, available);
    for (std::size_t b = 0; b < kBuckets; ++b) primary_up_[b] = servers[primary_[b]].up;
    for (const SchedServer& s : servers) overloaded_.push_back(s.overloaded);
    any_available_ = true;
  }

  std::string_view name() const override { return "sh"; }

  std::optional<std::size_t> pick(const SchedRequest& request) override {
    if (!any_available_) return std::nullopt;
    const uint64_t h = stable_hash(request.client);
    const std::size_t b = h % kBuckets;
    if (primary_up_[b] && !is_full(overloaded_[primary_[b]])) return primary_[b];
    const std::size_t stride = ((h >> 16) % kBuckets) | 1;
    for (std::size_t step = 0, f = (h >> 8) % kBuckets; step < kBuckets; ++step, f = (f + stride) % kBuckets)
      if (!is_full(overloaded_[fallback_[f]])) return fallback_[f];
    return std::nullopt;
  }

 private:
  Table primary_{};   // every server with a weight, up or down
  Table fallback_{};  // the available servers only
  std::array<bool, kBuckets> primary_up_{};
  std::vector<const std::atomic<bool>*> overloaded_;  // by server index
  bool any_available_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_sh(std::vector<SchedServer> servers) {
  return std::make_unique<SourceHashing>(servers);
}

}  // namespace sipvs::detail
