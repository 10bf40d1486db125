#include "daemon/fastpath/pending_copies.hpp"

#include <cstring>
#include <utility>

namespace sipvsd {

template <class Key>
PendingCopies<Key>::PendingCopies(Write write)
    : write_(std::move(write)), deciders_(std::make_unique_for_overwrite<Decider[]>(sipvs::kMaxDeciders)) {}

template <class Key>
void PendingCopies<Key>::add(unsigned decider, const Key& key, const sipvsd_fp_target& target) {
  Decider& d = deciders_[decider];
  std::lock_guard lock(d.mutex);
  if (d.count.load(std::memory_order_relaxed) == kPerDecider) write_held(d);
  const std::size_t n = d.count.load(std::memory_order_relaxed);
  d.keys[n] = key;
  d.targets[n] = target;
  d.count.store(n + 1, std::memory_order_release);
}

template <class Key>
void PendingCopies<Key>::flush(unsigned decider) {
  Decider& d = deciders_[decider];
  if (d.count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(d.mutex);
  write_held(d);
}

template <class Key>
void PendingCopies<Key>::write_held(Decider& d) {
  const std::size_t n = d.count.load(std::memory_order_relaxed);
  if (n > 0) write_(d.keys.data(), d.targets.data(), n);
  d.count.store(0, std::memory_order_release);
}

// The caller holds the key's shard lock: no decider adds the key meanwhile,
// and one whose count reads 0 wrote or dropped it already.
template <class Key>
void PendingCopies<Key>::forget(const Key& key) {
  for (unsigned i = 0; i < sipvs::kMaxDeciders; ++i) {
    Decider& d = deciders_[i];
    if (d.count.load(std::memory_order_acquire) == 0) continue;
    std::lock_guard lock(d.mutex);
    std::size_t kept = 0;
    const std::size_t n = d.count.load(std::memory_order_relaxed);
    for (std::size_t j = 0; j < n; ++j) {
      if (std::memcmp(&d.keys[j], &key, sizeof key) == 0) continue;
      if (kept != j) {
        d.keys[kept] = d.keys[j];
        d.targets[kept] = d.targets[j];
      }
      ++kept;
    }
    d.count.store(kept, std::memory_order_release);
  }
}

template class PendingCopies<sipvsd_fp_key>;
template class PendingCopies<sipvsd_fp_short_key>;

}  // namespace sipvsd
