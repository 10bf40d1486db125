// The fast path's held-back template copies (pending_copies.hpp): written in
// order when their decider flushes or fills up, and never written once
// forgotten, whichever decider held them.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/fastpath/pending_copies.hpp"

using PendingCopies = sipvsd::PendingCopies<sipvsd_fp_key>;

namespace {

sipvsd_fp_key key(const std::string& call_id) {
  sipvsd_fp_key k{};
  k.call_id_len = static_cast<uint8_t>(call_id.size());
  std::memcpy(k.call_id, call_id.data(), call_id.size());
  return k;
}

sipvsd_fp_target target(uint32_t mark) {
  sipvsd_fp_target t{};
  t.mark = mark;
  return t;
}

// The map as the writes leave it, and how they came.
struct Map {
  std::mutex mutex;
  std::vector<std::string> writes;  // "call-id=mark", in order
  std::vector<std::size_t> calls;   // copies per write
  PendingCopies::Write writer() {
    return [this](const sipvsd_fp_key* keys, const sipvsd_fp_target* targets, std::size_t count) {
      std::lock_guard lock(mutex);
      calls.push_back(count);
      for (std::size_t i = 0; i < count; ++i)
        writes.push_back(std::string(reinterpret_cast<const char*>(keys[i].call_id), keys[i].call_id_len) + "=" +
                         std::to_string(targets[i].mark));
    };
  }
};

}  // namespace

TEST_CASE("copies wait for their decider's flush, then go in one write, in order") {
  Map map;
  PendingCopies pending(map.writer());
  pending.add(3, key("a"), target(1));
  pending.add(3, key("b"), target(2));
  pending.add(3, key("a"), target(3));
  pending.add(5, key("c"), target(4));
  CHECK(map.writes.empty());
  pending.flush(3);
  CHECK(map.writes == std::vector<std::string>{"a=1", "b=2", "a=3"});
  CHECK(map.calls == std::vector<std::size_t>{3});
  pending.flush(3);  // nothing more: no write
  CHECK(map.calls.size() == 1);
  pending.flush(5);
  CHECK(map.writes.back() == "c=4");
}

TEST_CASE(
    "a decider that holds kPerDecider copies writes them before holding "
    "one more") {
  Map map;
  PendingCopies pending(map.writer());
  for (std::size_t i = 0; i <= PendingCopies::kPerDecider; ++i) pending.add(0, key(std::to_string(i)), target(1));
  CHECK(map.calls == std::vector<std::size_t>{PendingCopies::kPerDecider});
  pending.flush(0);
  CHECK(map.calls == std::vector<std::size_t>{PendingCopies::kPerDecider, 1});
  CHECK(map.writes.size() == PendingCopies::kPerDecider + 1);
}

// A template erased (or replaced by a peer's) while a worker held its copy
// back: the flush must not bring the copy back after the caller deleted it.
TEST_CASE(
    "a forgotten key is dropped from every decider's copies, the others "
    "kept in order") {
  Map map;
  PendingCopies pending(map.writer());
  pending.add(0, key("a"), target(1));
  pending.add(0, key("b"), target(2));
  pending.add(0, key("a"), target(3));
  pending.add(0, key("c"), target(4));
  pending.add(31, key("a"), target(5));
  pending.forget(key("a"));
  pending.forget(key("not held"));
  pending.flush(0);
  pending.flush(31);
  CHECK(map.writes == std::vector<std::string>{"b=2", "c=4"});
  CHECK(map.calls == std::vector<std::size_t>{2});
}

TEST_CASE(
    "a key is only the same when all of it is: a Call-ID that is a "
    "prefix of another is kept") {
  Map map;
  PendingCopies pending(map.writer());
  pending.add(0, key("ab"), target(1));
  pending.add(0, key("abc"), target(2));
  pending.forget(key("ab"));
  pending.flush(0);
  CHECK(map.writes == std::vector<std::string>{"abc=2"});
}

// Workers add and flush their own copies while another thread forgets keys
// (the expiry, under the shard lock): a key is forgotten only once its add
// is done, as the shard lock orders them, and no write may carry a key
// after forget() returned for it (the caller then deletes it from the map).
TEST_CASE(
    "concurrent: workers adding and flushing while keys are forgotten: "
    "none written after it was forgotten") {
  constexpr int kWorkers = 2, kKeys = 2000;
  std::vector<std::atomic<bool>> added(kWorkers * kKeys);
  std::atomic<int> forgotten_written{0};
  std::vector<std::atomic<bool>> forgotten(kWorkers * kKeys);
  PendingCopies checked([&](const sipvsd_fp_key* keys, const sipvsd_fp_target*, std::size_t count) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // a write takes time: forget() comes meanwhile
    for (std::size_t i = 0; i < count; ++i)
      if (forgotten[std::stoi(std::string(reinterpret_cast<const char*>(keys[i].call_id), keys[i].call_id_len))])
        forgotten_written.fetch_add(1);
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w)
    workers.emplace_back([&, w] {
      for (int i = 0; i < kKeys; ++i) {
        const int id = w * kKeys + i;
        checked.add(static_cast<unsigned>(w), key(std::to_string(id)), target(1));
        added[id].store(true, std::memory_order_release);
        if (i % 7 == 0) checked.flush(static_cast<unsigned>(w));
      }
      checked.flush(static_cast<unsigned>(w));
    });
  std::thread expiry([&] {
    for (int round = 0; round < 2; ++round)
      for (int id = 0; id < kWorkers * kKeys; id += 3) {
        if (!added[id].load(std::memory_order_acquire)) continue;
        checked.forget(key(std::to_string(id)));
        forgotten[id].store(true);
      }
  });
  for (std::thread& t : workers) t.join();
  expiry.join();
  CHECK(forgotten_written.load() == 0);
}
