#pragma once
// Caps the new templates one source may create per second, so that one
// flooding source cannot fill the template table. A source is a prefix, not
// an address: one IPv6 host holds a whole /64 and could otherwise take a new
// address, and a new budget, for every packet. Fixed memory and no lock:
// sources hash (keyed) into a fixed array of per-second counters; sources
// that share a slot share its budget, which errs on the safe side.
#include <atomic>
#include <cstdint>
#include <memory>

#include "engine/ip_address.hpp"
#include "engine/siphash.hpp"

namespace sipvs {

class SourceLimiter {
 public:
  explicit SourceLimiter(const HashKey& key);
  // True if the source of `address` (its first `prefix` bits) may create one
  // more template in second `now` under `per_second` (0 = no limit), and counts it.
  bool allow(const IpAddress& address, unsigned prefix, uint32_t now, uint32_t per_second);

 private:
  static constexpr std::size_t kSlots = 1 << 16;
  HashKey key_;
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;  // (second << 32) | count
};

}  // namespace sipvs
