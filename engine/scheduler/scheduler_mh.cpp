// Maglev consistent hashing as IPVS mh (Eisenbud et al., NSDI 2016, 3.4).
// Every server walks its own permutation of a prime-sized table, claiming the
// next free slot on each of its turns, until the table is full; a request's
// stable hash indexes it. Removing a server leaves most slots where they were,
// and two directors with the same servers build the same table.
//
// IPVS keeps an unavailable server in the table and re-hashes its requests at
// lookup. Here that fallback is precomputed: the table is built from every
// server with a weight, up or down, so a health change alone never moves
// another server's slots; then each slot of a down server takes the entry of a
// second table built from the available servers only, which spreads its share
// over them by weight. The lookup table thus holds only available servers and
// a pick is one hash and one load.
#include <algorithm>
#include <bit>

#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs::detail {
namespace {

constexpr uint32_t kTableSize = 65521;  // prime, IPVS's default
// IPVS shifts reduced weights down to at most this many bits, which keeps a
// round of turns small next to the table, so the last, partial round barely
// skews the shares.
constexpr int kTurnBits = 6;
constexpr uint32_t kFree = UINT32_MAX;

std::vector<uint32_t> maglev_table(const std::vector<SchedServer>& servers,
                                   const std::vector<uint32_t>& members) {
  if (members.empty()) return {};
  std::vector<uint32_t> weights;
  for (uint32_t i : members) weights.push_back(servers[i].weight);
  const uint32_t g = weight_gcd(weights);
  const int shift =
      std::max(0, static_cast<int>(std::bit_width(*std::max_element(weights.begin(), weights.end()) / g)) -
                      kTurnBits);

  struct Walk {
    uint32_t server, next, skip, turns;
  };
  std::vector<Walk> walks;
  for (std::size_t k = 0; k < members.size(); ++k) {
    const SchedServer& s = servers[members[k]];
    SipHasher h(kStableHashKey);
    hash_address(h, s.address);
    h.update_value(s.port);
    const uint64_t x = h.finish();  // its two halves stand in for Maglev's two hashes
    walks.push_back({members[k], static_cast<uint32_t>((x & UINT32_MAX) % kTableSize),
                     static_cast<uint32_t>((x >> 32) % (kTableSize - 1) + 1),
                     std::max<uint32_t>(1, (weights[k] / g) >> shift)});
  }

  // A skip in [1, M) with M prime visits every slot, so each walk finds one.
  std::vector<uint32_t> table(kTableSize, kFree);
  for (uint32_t filled = 0;;) {
    for (Walk& w : walks) {
      for (uint32_t t = 0; t < w.turns; ++t) {
        while (table[w.next] != kFree) {
          w.next += w.skip;
          if (w.next >= kTableSize) w.next -= kTableSize;
        }
        table[w.next] = w.server;
        if (++filled == kTableSize) return table;
      }
    }
  }
}

class MaglevHashing final : public Scheduler {
 public:
  explicit MaglevHashing(const std::vector<SchedServer>& servers) {
    std::vector<uint32_t> weighted;  // quiesced servers take no slots
    for (uint32_t i = 0; i < servers.size(); ++i)
      if (servers[i].weight > 0) weighted.push_back(i);
    const std::vector<uint32_t> available = available_indices(servers);
    if (available.empty()) return;
    table_ = maglev_table(servers, weighted);
    if (available.size() == weighted.size()) return;
    const std::vector<uint32_t> fallback = maglev_table(servers, available);
    for (uint32_t c = 0; c < kTableSize; ++c)
      if (!servers[table_[c]].up) table_[c] = fallback[c];
  }

  std::string_view name() const override { return "mh"; }

  std::optional<std::size_t> pick(const SchedRequest& request) override {
    if (table_.empty()) return std::nullopt;
    const uint64_t h = request.pe_data.empty() ? stable_hash(request.client)
                                               : siphash(kStableHashKey, request.pe_data);
    return table_[h % kTableSize];
  }

 private:
  std::vector<uint32_t> table_;  // empty when no server is available
};

}  // namespace

std::unique_ptr<Scheduler> make_mh(std::vector<SchedServer> servers) {
  return std::make_unique<MaglevHashing>(servers);
}

}  // namespace sipvs::detail
