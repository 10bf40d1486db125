#include "engine/change_log.hpp"

#include <bit>
#include <cstring>

namespace sipvs {

ChangeRing::ChangeRing(std::size_t capacity)
    : slots_(new TemplateChange[std::bit_ceil(std::max<std::size_t>(capacity, 2))]),
      mask_(std::bit_ceil(std::max<std::size_t>(capacity, 2)) - 1) {}

bool ChangeRing::push(const Template& t, bool erased) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) > mask_) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  TemplateChange& c = slots_[head & mask_];
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
