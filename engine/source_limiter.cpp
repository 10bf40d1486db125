#include "engine/source_limiter.hpp"

namespace sipvs {

SourceLimiter::SourceLimiter(const HashKey& key) : key_(key), slots_(new std::atomic<uint64_t>[kSlots]) {
  for (std::size_t i = 0; i < kSlots; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

bool SourceLimiter::allow(const IpAddress& address, unsigned prefix, uint32_t now, uint32_t per_second) {
  if (per_second == 0) return true;
  const IpAddress source = address.masked(prefix);
  SipHasher h(key_);
  h.update(source.bytes.data(), source.bytes.size());
  std::atomic<uint64_t>& slot = slots_[h.finish() & (kSlots - 1)];
  uint64_t seen = slot.load(std::memory_order_relaxed);
  for (;;) {
    const bool same_second = (seen >> 32) == now;
    const uint32_t count = same_second ? static_cast<uint32_t>(seen) : 0;
    if (count >= per_second) return false;
    const uint64_t next = (uint64_t{now} << 32) | (count + 1);
    if (slot.compare_exchange_weak(seen, next, std::memory_order_relaxed)) return true;
  }
}

}  // namespace sipvs
