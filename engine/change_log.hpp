#pragma once
// Internal to the engine: what changed in the template table, for the
// directors' template sync. Each decider writes its own ring (one producer,
// the sync thread the one consumer), so the data path takes no lock and
// allocates nothing to log a change; a full ring drops the change and counts
// it, never waits. The control plane's erasures (flush, a server removed or
// expiring) go to a ring of their own behind a mutex, off the data path.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string_view>

#include "engine/template_table.hpp"
#include "engine/thread_safety.hpp"

namespace sipvs {

struct TemplateChange {
  bool erased = false;
  TemplateKey key;
  uint32_t server_ref = 0;  // set: the server it names
  uint32_t expires = 0;     // set: monotonic seconds
  TemplateOrigin origin = TemplateOrigin::scheduled;
  char pe_data[kMaxSipValue];

  std::string_view pe() const { return {pe_data, key.pe_len}; }
};

class ChangeRing {
 public:
  explicit ChangeRing(std::size_t capacity);  // rounded up to a power of two
  // The producer's: false (and counted) when the ring is full.
  bool push(const Template& t, bool erased);
  // The consumer's: up to `max` changes, oldest first, each to f(const TemplateChange&).
  template <class F>
  std::size_t drain(F&& f, std::size_t max);
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::byte* slot_bytes(uint64_t i) const { return storage_.get() + (i & mask_) * sizeof(TemplateChange); }
  const TemplateChange& slot(uint64_t i) const {
    return *std::launder(reinterpret_cast<const TemplateChange*>(slot_bytes(i)));
  }

  // Raw bytes, a change constructed in its slot as it is written: the kernel
  // maps a page only when it is first written, so the rings of decider slots
  // no queue uses (an engine has kMaxDeciders of them) take address space,
  // not memory. Constructing every slot up front took 20 MB per ring.
  std::unique_ptr<std::byte[]> storage_;
  std::size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};  // the next slot to write; the producer's
  alignas(64) std::atomic<uint64_t> tail_{0};  // the next slot to read; the consumer's
  std::atomic<uint64_t> dropped_{0};
};

template <class F>
std::size_t ChangeRing::drain(F&& f, std::size_t max) {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  std::size_t n = 0;
  for (; n < max && tail + n != head; ++n) f(slot(tail + n));
  tail_.store(tail + n, std::memory_order_release);
  return n;
}

}  // namespace sipvs
