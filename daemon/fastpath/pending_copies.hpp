#pragma once
// The template copies each decider (queue worker) made since its last flush,
// held back so that one wake-up's copies reach the map in one system call:
// bpf(BPF_MAP_UPDATE_BATCH) takes about 0.8 us a copy where one
// bpf(BPF_MAP_UPDATE_ELEM) each takes 2.8-3.9 us (measured on our 2-core
// test machines), and a new call makes one.
//
// Order with the table: a copy is added and forgotten under its template's
// shard lock, so forget() (the template left the table, or a peer's took
// its place) always comes after the add() it undoes; it drops the copy from
// every decider's pending ones before the caller touches the map, and a
// flush holds its decider's mutex until the map has the copies, so no flush
// can bring a forgotten copy back. Lock order: shard lock, then one
// decider's mutex; never two deciders' mutexes at once.
//
// One per template map: `Key` is the map's key (fast_path_abi.h), and each
// write takes the keys packed at that size.
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>

#include "daemon/fastpath/fast_path_abi.h"
#include "engine/engine.hpp"

namespace sipvsd {

template <class Key>
class PendingCopies {
 public:
  // More than a queue worker decides in one wake-up (QueueWorker::kBatch + 1
  // packets, each making at most one copy): a wake-up's copies go in one call.
  static constexpr std::size_t kPerDecider = 128;
  // Writes `count` copies to the map, in order (a later copy of a key wins).
  using Write = std::function<void(const Key* keys, const sipvsd_fp_target* targets, std::size_t count)>;

  explicit PendingCopies(Write write);

  // Holds the copy back until flush(decider); writes the decider's copies
  // first when it already holds kPerDecider. `decider` < sipvs::kMaxDeciders.
  void add(unsigned decider, const Key& key, const sipvsd_fp_target& target);
  // Writes what the decider holds back, and waits until the map has it.
  void flush(unsigned decider);
  // Every decider's copies of `key` that are not written yet are dropped.
  void forget(const Key& key);

 private:
  struct Decider {
    std::mutex mutex;
    // Written under mutex; read without it only to skip a decider with none.
    std::atomic<std::size_t> count{0};
    std::array<Key, kPerDecider> keys;
    std::array<sipvsd_fp_target, kPerDecider> targets;
  };
  void write_held(Decider& d);  // under d.mutex

  Write write_;
  // Allocated once, untouched until used: nothing is allocated per packet,
  // and a decider that never comes takes only its mutex's page.
  std::unique_ptr<Decider[]> deciders_;
};

extern template class PendingCopies<sipvsd_fp_key>;
extern template class PendingCopies<sipvsd_fp_short_key>;

}  // namespace sipvsd
