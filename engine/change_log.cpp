#include "engine/change_log.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

namespace sipvs {

ChangeRing::ChangeRing(std::size_t capacity)
    : storage_(std::make_unique_for_overwrite<std::byte[]>(std::bit_ceil(std::max<std::size_t>(capacity, 2)) *
                                                           sizeof(TemplateChange))),
      mask_(std::bit_ceil(std::max<std::size_t>(capacity, 2)) - 1) {}

bool ChangeRing::push(const Template& t, bool erased) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) > mask_) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  auto& c = *::new (slot_bytes(head)) TemplateChange;
  c.erased = erased;
  c.key = t.key;
  c.server_ref = t.server_ref;
  c.expires = t.expires;
  c.origin = t.origin;
  std::memcpy(c.pe_data, t.pe_data, t.key.pe_len);
  head_.store(head + 1, std::memory_order_release);
  return true;
}

}  // namespace sipvs
