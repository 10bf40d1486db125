#pragma once
// The counters of one NFQUEUE worker, defined once: this table feeds the
// worker's atomics and per-batch tallies, /v1/stats, /metrics and the log
// dump. A new counter is one enum value and one row.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "daemon/datapath/kernel_queue_stats.hpp"

namespace sipvsd {

enum class QueueCounter : uint8_t {
  packets,
  bytes,
  batches,
  max_batch,
  placed,
  unplaced_accepted,
  unplaced_dropped,
  truncated,
  missed,
  enobufs,
  recv_errors,
  verdict_send_errors,
  kernel_errors,
  decide_errors,
  outgoing,
};

struct QueueCounterInfo {
  QueueCounter counter;
  std::string_view name;  // in /v1/stats and the log dump
  // The Prometheus family (without the sipvsd_ prefix), empty if not
  // exported; rows of one family are adjacent and told apart by `label`.
  std::string_view metric;
  std::array<std::string_view, 2> label;  // {key, value}, or empty
  std::string_view help;                  // the family's, on its first row
  bool high_water = false;                // a maximum, not a sum (set by the worker, not by batches)
};

inline constexpr std::array kQueueCounters{
    QueueCounterInfo{QueueCounter::packets, "packets", "queue_packets_total", {}, "Packets given a verdict."},
    QueueCounterInfo{QueueCounter::bytes, "bytes", "queue_bytes_total", {},
                     "Bytes of the packets given a verdict."},
    QueueCounterInfo{QueueCounter::batches, "batches", "", {}, "Wake-ups, one verdict sendmsg each."},
    QueueCounterInfo{QueueCounter::max_batch, "max_batch", "", {}, "Most packets in one batch.", true},
    QueueCounterInfo{QueueCounter::placed, "placed", "queue_placed_total", {},
                     "Packets accepted with a real server's mark."},
    QueueCounterInfo{QueueCounter::unplaced_accepted, "unplaced_accepted", "queue_unplaced_total",
                     {"verdict", "accept"}, "Packets not placed, by the verdict the policy gave."},
    QueueCounterInfo{QueueCounter::unplaced_dropped, "unplaced_dropped", "queue_unplaced_total", {"verdict", "drop"}, ""},
    QueueCounterInfo{QueueCounter::truncated, "truncated", "queue_truncated_total", {},
                     "Packets longer than the copy range."},
    QueueCounterInfo{QueueCounter::missed, "missed", "queue_missed_total", {},
                     "Packets the kernel queued that never reached sipvsd (gaps in the queue's packet ids): its "
                     "socket was full and the kernel let them through unmarked (fail-open). Needs no root, unlike "
                     "the kernel's own counters."},
    QueueCounterInfo{QueueCounter::enobufs, "enobufs", "queue_enobufs_total", {},
                     "Times the queue socket overflowed (packets lost)."},
    QueueCounterInfo{QueueCounter::recv_errors, "recv_errors", "queue_errors_total", {"kind", "receive"},
                     "Errors, by kind: receive, verdict_send and kernel (netlink); decide (the engine threw, the "
                     "packet got the unplaced policy)."},
    QueueCounterInfo{QueueCounter::verdict_send_errors, "verdict_send_errors", "queue_errors_total",
                     {"kind", "verdict_send"}, ""},
    QueueCounterInfo{QueueCounter::kernel_errors, "kernel_errors", "queue_errors_total", {"kind", "kernel"}, ""},
    QueueCounterInfo{QueueCounter::decide_errors, "decide_errors", "queue_errors_total", {"kind", "decide"}, ""},
    QueueCounterInfo{QueueCounter::outgoing, "outgoing", "queue_outgoing_total", {},
                     "Messages the real servers sent from a VIP, accepted as they came (their calls learned)."},
};
inline constexpr std::size_t kQueueCounterCount = kQueueCounters.size();

constexpr bool rows_follow_the_enum() {
  for (std::size_t i = 0; i < kQueueCounterCount; ++i)
    if (static_cast<std::size_t>(kQueueCounters[i].counter) != i) return false;
  return true;
}
static_assert(rows_follow_the_enum(), "kQueueCounters: one row per QueueCounter, in the enum's order");

template <typename T>
struct QueueCounterArray {
  std::array<T, kQueueCounterCount> values{};
  T& operator[](QueueCounter c) { return values[static_cast<std::size_t>(c)]; }
  const T& operator[](QueueCounter c) const { return values[static_cast<std::size_t>(c)]; }
};

// Written by one worker, read by anyone (relaxed: they are statistics).
using QueueCounters = QueueCounterArray<std::atomic<uint64_t>>;

// A worker's counters as read at one moment, with the kernel's own view.
struct QueueStats {
  uint16_t queue = 0;
  QueueCounterArray<uint64_t> counters;
  // None if the kernel does not list the queue as bound to this worker's socket.
  std::optional<KernelQueueStats> kernel;
};

}  // namespace sipvsd
