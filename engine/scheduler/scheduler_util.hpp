#pragma once
// Internal to the scheduler implementations: the factories the registry
// lists, and the few helpers more than one scheduler needs.
#include <cstdint>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

#include "engine/scheduler/scheduler.hpp"
#include "engine/siphash.hpp"

namespace sipvs::detail {

std::unique_ptr<Scheduler> make_rr(std::vector<SchedServer> servers);
std::unique_ptr<Scheduler> make_wrr(std::vector<SchedServer> servers);
std::unique_ptr<Scheduler> make_lc(std::vector<SchedServer> servers);
std::unique_ptr<Scheduler> make_wlc(std::vector<SchedServer> servers);
std::unique_ptr<Scheduler> make_sh(std::vector<SchedServer> servers);
std::unique_ptr<Scheduler> make_mh(std::vector<SchedServer> servers);

// Pick counters are written by every worker: keeping them on their own cache
// line stops them from evicting the read-only tables next to them.
inline constexpr std::size_t kCacheLine = 64;

// Servers that may receive new templates, in configuration order.
inline std::vector<uint32_t> available_indices(std::span<const SchedServer> servers) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < servers.size(); ++i)
    if (servers[i].available()) out.push_back(i);
  return out;
}

// A server's identity across configuration changes (its index may move).
inline bool same_endpoint(const SchedServer& a, const SchedServer& b) {
  return a.address == b.address && a.port == b.port;
}

// A server without a counter has no live templates.
inline int64_t live_count(const std::atomic<int64_t>* live) {
  return live ? live->load(std::memory_order_relaxed) : 0;
}

// A server without a flag has no limit.
inline bool is_full(const std::atomic<bool>* overloaded) {
  return overloaded && overloaded->load(std::memory_order_relaxed);
}

// gcd of the nonzero weights; 0 when there are none.
inline uint32_t weight_gcd(std::span<const uint32_t> weights) {
  uint32_t g = 0;
  for (uint32_t w : weights) g = std::gcd(g, w);
  return g;
}

inline void hash_address(SipHasher& h, const IpAddress& a) {
  h.update_value(a.family);
  h.update(a.bytes.data(), a.bytes.size());
}

// The same in every director, so hashing schedulers agree without shared state.
inline uint64_t stable_hash(const IpAddress& a) {
  SipHasher h(kStableHashKey);
  hash_address(h, a);
  return h.finish();
}

}  // namespace sipvs::detail
