#pragma once
// Fixtures shared by the scheduler tests.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/scheduler/scheduler.hpp"

namespace sipvs::test {

// Server 10.0.0.<host>:5060.
inline SchedServer server(uint8_t host, uint32_t weight = 1, bool up = true,
                          const std::atomic<int64_t>* live = nullptr) {
  const uint8_t b[4] = {10, 0, 0, host};
  return SchedServer{IpAddress::v4(b), 5060, weight, up, live};
}

inline std::vector<SchedServer> equal_servers(std::size_t n) {
  std::vector<SchedServer> s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(server(static_cast<uint8_t>(i + 1)));
  return s;
}

inline IpAddress random_v4(std::mt19937_64& rng) {
  const uint32_t x = static_cast<uint32_t>(rng());
  const uint8_t b[4] = {uint8_t(x >> 24), uint8_t(x >> 16), uint8_t(x >> 8), uint8_t(x)};
  return IpAddress::v4(b);
}

// Shaped like real Call-IDs: a random token at a host.
inline std::string random_call_id(std::mt19937_64& rng) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016llx%08x@pc33.atlanta.example",
                static_cast<unsigned long long>(rng()), static_cast<unsigned>(rng()));
  return buf;
}

inline std::vector<std::string> random_call_ids(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back(random_call_id(rng));
  return ids;
}

// How many of `picks` picks with the same request went to each of n servers.
inline std::vector<std::size_t> pick_counts(Scheduler& s, std::size_t n, std::size_t picks,
                                            const SchedRequest& request = {}) {
  std::vector<std::size_t> counts(n);
  for (std::size_t i = 0; i < picks; ++i) ++counts.at(s.pick(request).value());
  return counts;
}

}  // namespace sipvs::test
