#pragma once
// One NFQUEUE worker per queue: its own netlink socket (libmnl +
// libnetfilter_queue's nfq_nlmsg_* API), its own engine Worker and thread.
// Each queued packet gets NF_ACCEPT with the chosen real server's mark, or the
// configured policy when the engine cannot place it; a message a real server
// sends out from a VIP is accepted as it came, its call learned.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "engine/engine.hpp"
#include "daemon/datapath/packet_verdict.hpp"
#include "daemon/datapath/queue_counters.hpp"
#include "daemon/datapath/sender_map.hpp"
#include "daemon/datapath/verdict_buffer.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace sipvsd {

// The packet id of a packet message that came truncated (MSG_TRUNC): its
// head, where the kernel puts NFQA_PACKET_HDR, is enough to answer it.
std::optional<uint32_t> truncated_packet_id(const char* data, std::size_t len);

struct QueueOptions {
  uint16_t queue = 0;
  uint32_t maxlen = 8192;              // NFQA_CFG_QUEUE_MAXLEN
  uint32_t copy_range = 0xffff;        // whole packets, up to 64 KiB
  int rcvbuf_bytes = 8 * 1024 * 1024;  // SO_RCVBUFFORCE
};

class QueueWorker {
 public:
  // Opens the socket, binds the queue and configures it; throws std::system_error
  // (e.g. EBUSY: another process holds the queue; EPERM: needs CAP_NET_ADMIN).
  // `senders` tells which real server sent a message out (sender_map.hpp).
  QueueWorker(sipvs::Engine& engine, const SenderMaps& senders, QueueOptions options);
  ~QueueWorker();  // stops, joins, unbinds the queue and closes the socket
  QueueWorker(const QueueWorker&) = delete;
  QueueWorker& operator=(const QueueWorker&) = delete;

  void start();
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  void join();

  uint16_t queue() const { return options_.queue; }
  uint32_t portid() const { return portid_; }  // the socket's, as the kernel lists the queue's peer
  const QueueCounters& counters() const { return counters_; }
  // When the worker last came round its loop: at least every 200 ms while it
  // is not stuck (SO_RCVTIMEO), whether packets come or not.
  std::chrono::steady_clock::time_point last_round() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_round_.load(std::memory_order_relaxed)));
  }

  // Up to this many packets are handled per wake-up: one blocking receive,
  // then up to kBatch more drained without waiting.
  static constexpr unsigned kBatch = 64;

 private:
  struct Batch;
  struct ReceiveSlots;
  void run();
  unsigned receive(ReceiveSlots& slots);
  void handle_batch(ReceiveSlots& slots, unsigned count);
  void handle_truncated(const char* data, std::size_t len, Batch& batch);
  void configure();
  void unbind();
  void handle_datagram(const char* data, std::size_t len, Batch& batch);
  void handle_packet(const ::nlmsghdr* nlh, Batch& batch);
  void note_id(uint32_t id, Batch& batch);  // counts the packets whose ids it skips
  // Queues one verdict (NF_ACCEPT with `mark` if given, or `verdict` alone).
  void put_verdict(uint32_t id, int verdict, std::optional<uint32_t> mark, Batch& batch);
  void put_unplaced(uint32_t id, Batch& batch);  // the configured policy for a packet not placed
  void answer(uint32_t id, const PacketVerdict& v, Batch& batch);  // queues the verdict v says, and counts it
  void flush_verdicts();
  void send_verdicts(Batch& batch);  // flush_verdicts() and the batch's counters

  sipvs::Engine::Decider decider_;
  SenderMaps::View senders_;  // refreshed with decider_, between batches
  QueueOptions options_;
  mnl_socket* nl_ = nullptr;
  unsigned portid_ = 0;
  uint32_t seq_ = 0;
  uint32_t last_id_ = 0;  // the last packet id received (the kernel numbers a queue's packets from 1)
  // Setup: the sequence number of the configuration message waiting for its ack.
  uint32_t pending_ack_seq_ = 0;
  std::optional<int> ack_error_;
  std::unique_ptr<char[]> rx_;  // (kBatch + 1) receive slots of kSlotSize bytes
  VerdictBuffer verdicts_;      // room for two batches: one unsent, one new
  uint64_t verdict_failures_ = 0;  // flushes that left verdicts unsent (for the log's rate limit)
  uint64_t decide_failures_ = 0;   // for the log's rate limit
  uint64_t unknown_senders_ = 0;   // for the log's rate limit
  uint64_t recv_errors_ = 0;       // for the log's rate limit
  std::atomic<bool> stop_{false};
  std::atomic<std::chrono::steady_clock::rep> last_round_{0};  // written by the worker once per wake-up
  std::thread thread_;
  QueueCounters counters_;
};

}  // namespace sipvsd
