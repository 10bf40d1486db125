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
//
// A server at its max_calls is full for as long as it is: that is read at
// each pick. A request whose slot is full probes on past full servers with
// a stride of its own (any stride visits every slot of the prime-sized
// table), as ip_vs_mh_get_fallback re-hashes past overloaded ones.
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
    members_ = available_indices(servers);
    if (members_.empty()) return;
    for (const SchedServer& s : servers) overloaded_.push_back(s.overloaded);
    table_ = maglev_table(servers, weighted);
    if (members_.size() == weighted.size()) return;
    const std::vector<uint32_t> fallback = maglev_table(servers, members_);
    for (uint32_t c = 0; c < kTableSize; ++c)
      if (!servers[table_[c]].up) table_[c] = fallback[c];
  }

  std::string_view name() const override { return "mh"; }

  std::optional<std::size_t> pick(const SchedRequest& request) override {
    if (table_.empty()) return std::nullopt;
    const uint64_t h = request.pe_data.empty() ? stable_hash(request.client)
                                               : siphash(kStableHashKey, request.pe_data);
    const uint32_t first = table_[h % kTableSize];
    return full(first) ? past_full(h) : std::optional<std::size_t>(first);
  }

 private:
  bool full(uint32_t server) const { return is_full(overloaded_[server]); }

  // On from the request's slot, past full servers, to the first that is
  // not. A probe's odds are a free server's share of the table, so first a
  // look at each server: none at all when every one is full.
  std::optional<std::size_t> past_full(uint64_t h) const {
    if (std::ranges::all_of(members_, [&](uint32_t i) { return full(i); })) return std::nullopt;
    const uint64_t stride = (h >> 32) % (kTableSize - 1) + 1;
    for (uint64_t step = 1, c = h % kTableSize; step < kTableSize; ++step) {
      c = (c + stride) % kTableSize;
      if (!full(table_[c])) return table_[c];
    }
    return std::nullopt;  // the last one filled up meanwhile
  }

  std::vector<const std::atomic<bool>*> overloaded_;  // by server index
  std::vector<uint32_t> members_;                     // the available servers
  std::vector<uint32_t> table_;                       // empty when no server is available
};

}  // namespace

std::unique_ptr<Scheduler> make_mh(std::vector<SchedServer> servers) {
  return std::make_unique<MaglevHashing>(servers);
}

}  // namespace sipvs::detail
