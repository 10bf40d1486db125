#pragma once
// Caps the new templates one client address may create per second, so that
// one flooding source cannot fill the template table. Fixed memory and no
// lock: sources hash (keyed) into a fixed array of per-second counters;
// sources that share a slot share its budget, which errs on the safe side.
#include <atomic>
#include <cstdint>
#include <memory>

#include "ip_address.hpp"
#include "siphash.hpp"

namespace sipvs {

class SourceLimiter {
 public:
  explicit SourceLimiter(const HashKey& key);
  // True if `source` may create one more template in second `now` under
  // `per_second` (0 = no limit), and counts it.
  bool allow(const IpAddress& source, uint32_t now, uint32_t per_second);

 private:
  static constexpr std::size_t kSlots = 1 << 16;
  HashKey key_;
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;  // (second << 32) | count
};

}  // namespace sipvs
