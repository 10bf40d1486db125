#include "daemon/datapath/nfqueue.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "daemon/log.hpp"
#include "engine/decision_text.hpp"

namespace sipvsd {

namespace {

// One netlink message carries one queued packet: up to copy_range (64 KiB)
// bytes of payload plus the attributes around it (packet header, mark,
// interfaces, timestamp, hardware address...), well under 4 KiB.
constexpr std::size_t kSlotSize = 0x10000 + 4096;  // a multiple of 4096: every slot stays aligned
constexpr unsigned kSlots = QueueWorker::kBatch + 1;
// The stop flag is looked at least this often; verdicts that could not be
// sent are retried at least this often too.
constexpr long kRecvTimeoutUs = 200'000;
// While unsent verdicts leave no room for another one, they are retried this often.
constexpr auto kVerdictRetryPause = std::chrono::milliseconds(10);

// "02:00:c6:12:01:02", or "none" for a frame without one.
std::string lladdr_text(std::span<const uint8_t> lladdr) {
  if (lladdr.empty()) return "none";
  std::string out;
  char byte[4];
  for (const uint8_t b : lladdr) {
    std::snprintf(byte, sizeof byte, out.empty() ? "%02x" : ":%02x", b);
    out += byte;
  }
  return out;
}

std::system_error sys_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

}  // namespace

std::optional<uint32_t> truncated_packet_id(const char* data, std::size_t len) {
  constexpr std::size_t kAttributesAt = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (len < kAttributesAt) return std::nullopt;
  nlmsghdr h;
  std::memcpy(&h, data, sizeof h);
  if (NFNL_SUBSYS_ID(h.nlmsg_type) != NFNL_SUBSYS_QUEUE || NFNL_MSG_TYPE(h.nlmsg_type) != NFQNL_MSG_PACKET)
    return std::nullopt;
  for (std::size_t at = kAttributesAt; at + NLA_HDRLEN <= len;) {
    nlattr a;
    std::memcpy(&a, data + at, sizeof a);
    if (a.nla_len < NLA_HDRLEN) return std::nullopt;
    if ((a.nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
      nfqnl_msg_packet_hdr ph;
      if (a.nla_len < NLA_HDRLEN + sizeof ph || at + NLA_HDRLEN + sizeof ph > len) return std::nullopt;
      std::memcpy(&ph, data + at + NLA_HDRLEN, sizeof ph);
      return ntohl(ph.packet_id);
    }
    at += NLA_ALIGN(a.nla_len);
  }
  return std::nullopt;
}

// The state of one wake-up: the packets received together, decided with the
// same configuration snapshot and answered with one sendmsg.
struct QueueWorker::Batch {
  sipvs::Seconds now = 0;
  DataPathPolicy policy;
  QueueCounterArray<uint64_t> tally;  // added to the worker's counters at each send
};

QueueWorker::QueueWorker(sipvs::Engine& engine, const SenderMaps& senders, QueueOptions options)
    : decider_(engine.make_decider()),
      senders_(senders),
      options_(options),
      rx_(new char[kSlots * kSlotSize]),
      verdicts_(2 * kSlots) {
  nl_ = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl_) throw sys_error(errno, "opening a netfilter netlink socket");
  try {
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) throw sys_error(errno, "binding the netlink socket");
    portid_ = mnl_socket_get_portid(nl_);
    const int fd = mnl_socket_get_fd(nl_);

    // A large receive buffer absorbs bursts while the worker is busy.
    int size = options_.rcvbuf_bytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
      LOG_WARN("queue %u: SO_RCVBUFFORCE %d failed (%s), trying SO_RCVBUF", options_.queue, size,
               std::strerror(errno));
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    // Without this an overflow makes recv() fail with ENOBUFS; packets that
    // did not fit are handled by the kernel (fail-open) either way.
    int one = 1;
    if (mnl_socket_setsockopt(nl_, NETLINK_NO_ENOBUFS, &one, sizeof one) < 0)
      LOG_WARN("queue %u: NETLINK_NO_ENOBUFS: %s", options_.queue, std::strerror(errno));
    timeval tv{0, kRecvTimeoutUs};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
      throw sys_error(errno, "setting SO_RCVTIMEO");
    configure();
  } catch (...) {
    mnl_socket_close(nl_);
    nl_ = nullptr;
    throw;
  }
}

QueueWorker::~QueueWorker() {
  request_stop();
  join();
  if (nl_) {
    unbind();
    mnl_socket_close(nl_);
  }
}

void QueueWorker::start() {
  last_round_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
}

void QueueWorker::join() {
  if (thread_.joinable()) thread_.join();
}

// Binds the queue and sets copy mode, queue length and flags in one
// configuration message, then waits for the kernel's acknowledgement so that
// a refusal (EBUSY, EPERM...) stops start-up with a clear error.
void QueueWorker::configure() {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, options_.queue);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = pending_ack_seq_ = ++seq_;
  nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, static_cast<int>(options_.copy_range));
  nfq_nlmsg_cfg_put_qmaxlen(nlh, options_.maxlen);
  // FAIL_OPEN: when the queue is full the kernel accepts (unmarked) instead of
  // dropping. GSO stays off: with it a GSO packet would come whole — e.g.
  // several datagrams of one trunk coalesced by UDP GRO forwarding on the
  // ingress device — and get one verdict and one mark for all their calls.
  // Without it the kernel segments GSO packets before queueing them, so every
  // SIP datagram is decided on its own.
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    throw sys_error(errno, "sending the configuration of queue " + std::to_string(options_.queue));

  // Packets may already arrive before the ack; they are decided normally.
  decider_.refresh();
  Batch batch;
  batch.now = sipvs::monotonic_seconds();
  batch.policy = DataPathPolicy::unpack(decider_.caller_data());
  char* slot = rx_.get();
  for (int tries = 0; !ack_error_ && tries < 10; ++tries) {  // 10 x SO_RCVTIMEO = 2 s
    const ssize_t n = recv(mnl_socket_get_fd(nl_), slot, kSlotSize, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ENOBUFS) continue;
      throw sys_error(errno, "waiting for the kernel to bind queue " + std::to_string(options_.queue));
    }
    handle_datagram(slot, static_cast<std::size_t>(n), batch);
    send_verdicts(batch);
  }
  pending_ack_seq_ = 0;
  const std::string q = "queue " + std::to_string(options_.queue);
  if (!ack_error_) throw sys_error(ETIMEDOUT, "binding " + q + ": no answer from the kernel");
  if (*ack_error_ == EBUSY) throw sys_error(EBUSY, "binding " + q + ": another process holds it (another sipvsd?)");
  if (*ack_error_ == EPERM) throw sys_error(EPERM, "binding " + q + ": needs CAP_NET_ADMIN (run as root)");
  if (*ack_error_ != 0) throw sys_error(*ack_error_, "binding " + q);
  LOG_INFO("queue %u bound (copy %u bytes, maxlen %u, fail-open)", options_.queue, options_.copy_range,
           options_.maxlen);
}

void QueueWorker::unbind() {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, options_.queue);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0)
    LOG_WARN("queue %u: unbind failed: %s", options_.queue, std::strerror(errno));
  else
    LOG_INFO("queue %u unbound", options_.queue);
}

// Preallocated headers over the receive slots; nothing is allocated per packet.
struct QueueWorker::ReceiveSlots {
  mmsghdr msgs[kSlots];
  iovec iov[kSlots];
  sockaddr_nl from[kSlots];

  explicit ReceiveSlots(char* rx) {
    std::memset(msgs, 0, sizeof msgs);
    for (unsigned i = 0; i < kSlots; ++i) {
      iov[i].iov_base = rx + i * kSlotSize;
      iov[i].iov_len = kSlotSize;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
    }
  }
};

// Why batches: measured on our 2-core test machines, one recv() plus one
// verdict sendmsg() per packet saturates near 60 k packets/s (~7.7 us per
// packet, mostly system calls); draining up to 64 queued packets per wake-up
// with recvmmsg() and answering them all with one sendmsg() of concatenated
// verdicts reached ~100 k packets/s (~3.6 us per packet), where the sender was
// the limit. Under light load a batch is one packet, so latency does not grow.
void QueueWorker::run() {
  char name[16];
  std::snprintf(name, sizeof name, "sipvsd-q%u", options_.queue);
  pthread_setname_np(pthread_self(), name);
  ReceiveSlots slots(rx_.get());
  while (!stop_.load(std::memory_order_relaxed)) {
    last_round_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    if (!verdicts_.empty()) flush_verdicts();  // those a failed send left: first in line
    if (const unsigned count = receive(slots)) handle_batch(slots, count);
  }
  flush_verdicts();  // a last try: unbinding drops what is still queued
}

// Blocks until a packet comes or SO_RCVTIMEO (200 ms) passes, then drains
// what is already waiting without blocking. Returns how many slots it filled.
unsigned QueueWorker::receive(ReceiveSlots& slots) {
  for (mmsghdr& m : slots.msgs) {
    m.msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    m.msg_hdr.msg_flags = 0;
    m.msg_len = 0;
  }
  const int fd = mnl_socket_get_fd(nl_);
  const ssize_t n = recvmsg(fd, &slots.msgs[0].msg_hdr, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    if (errno == ENOBUFS) {
      counters_[QueueCounter::enobufs].fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    counters_[QueueCounter::recv_errors].fetch_add(1, std::memory_order_relaxed);
    if (log::is_power_of_two(++recv_errors_))
      LOG_ERR("queue %u: receive failed: %s (%llu times)", options_.queue, std::strerror(errno),
              static_cast<unsigned long long>(recv_errors_));
    return 0;
  }
  slots.msgs[0].msg_len = static_cast<unsigned>(n);
  const int more = recvmmsg(fd, &slots.msgs[1], kBatch, MSG_DONTWAIT, nullptr);
  if (more < 0 && errno == ENOBUFS) counters_[QueueCounter::enobufs].fetch_add(1, std::memory_order_relaxed);
  return 1 + static_cast<unsigned>(std::max(more, 0));
}

// One configuration snapshot, clock reading and policy per batch.
void QueueWorker::handle_batch(ReceiveSlots& slots, unsigned count) {
  decider_.refresh();
  senders_.refresh();
  Batch batch;
  batch.now = sipvs::monotonic_seconds();
  batch.policy = DataPathPolicy::unpack(decider_.caller_data());
  for (unsigned i = 0; i < count; ++i) {
    const msghdr& h = slots.msgs[i].msg_hdr;
    if (h.msg_namelen == sizeof(sockaddr_nl) && slots.from[i].nl_pid != 0) continue;  // not from the kernel
    const char* data = static_cast<const char*>(slots.iov[i].iov_base);
    if (h.msg_flags & MSG_TRUNC)
      handle_truncated(data, std::min<std::size_t>(slots.msgs[i].msg_len, kSlotSize), batch);
    else
      handle_datagram(data, slots.msgs[i].msg_len, batch);
  }
  const uint64_t handled = batch.tally[QueueCounter::packets];
  send_verdicts(batch);
  // After the verdicts, which the packets wait for: a call's next packet
  // that comes before its template's copy goes through here again.
  decider_.flush_mirror();
  counters_[QueueCounter::batches].fetch_add(1, std::memory_order_relaxed);
  if (handled > counters_[QueueCounter::max_batch].load(std::memory_order_relaxed))
    counters_[QueueCounter::max_batch].store(handled, std::memory_order_relaxed);
}

// Only a message larger than a slot (more attributes than asked for): its
// head still names the packet, which gets the unplaced policy rather than
// waiting in the kernel until the queue is unbound.
void QueueWorker::handle_truncated(const char* data, std::size_t len, Batch& batch) {
  const std::optional<uint32_t> id = truncated_packet_id(data, len);
  if (!id) {
    LOG_ERR("queue %u: a truncated netlink message without a packet id", options_.queue);
    return;
  }
  note_id(*id, batch);
  ++batch.tally[QueueCounter::truncated];
  ++batch.tally[QueueCounter::packets];
  put_unplaced(*id, batch);
}

// The kernel gives each packet it queues the next id, then sends it to the
// socket in that order; one the full socket could not take (fail-open: let
// through unmarked) leaves a gap. The kernel's own count of them is in a
// /proc file only root may read.
void QueueWorker::note_id(uint32_t id, Batch& batch) {
  const uint32_t skipped = id - last_id_ - 1;  // modulo 2^32, as the ids wrap
  if (skipped < 0x80000000u) batch.tally[QueueCounter::missed] += skipped;
  last_id_ = id;
}

void QueueWorker::handle_datagram(const char* data, std::size_t len, Batch& batch) {
  int left = static_cast<int>(len);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(data);
  while (mnl_nlmsg_ok(nlh, left)) {
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (pending_ack_seq_ != 0 && nlh->nlmsg_seq == pending_ack_seq_) {
        ack_error_ = -err->error;
      } else if (err->error != 0) {
        // E.g. a verdict for a packet id the kernel no longer holds.
        ++batch.tally[QueueCounter::kernel_errors];
        LOG_DEBUG(1, "queue %u: kernel error: %s", options_.queue, std::strerror(-err->error));
      }
    } else if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_QUEUE &&
               NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET) {
      handle_packet(nlh, batch);
    }
    nlh = mnl_nlmsg_next(nlh, &left);
  }
}

void QueueWorker::handle_packet(const nlmsghdr* nlh, Batch& batch) {
  nlattr* attr[NFQA_MAX + 1] = {};
  if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) {
    ++batch.tally[QueueCounter::kernel_errors];
    return;
  }
  const auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
  const uint32_t id = ntohl(ph->packet_id);
  note_id(id, batch);
  const uint8_t* payload = nullptr;
  std::size_t plen = 0;
  if (attr[NFQA_PAYLOAD]) {
    payload = static_cast<const uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD]));
    plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
  }
  if (attr[NFQA_CAP_LEN] && ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) > plen) ++batch.tally[QueueCounter::truncated];
  const uint32_t packet_mark = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
  std::span<const uint8_t> lladdr;  // the frame's source, when it came from a link that has one
  if (attr[NFQA_HWADDR]) {
    const auto* hw = static_cast<const nfqnl_msg_packet_hw*>(mnl_attr_get_payload(attr[NFQA_HWADDR]));
    lladdr = {hw->hw_addr, std::min<std::size_t>(ntohs(hw->hw_addrlen), sizeof hw->hw_addr)};
  }

  // The payload starts at the IP header. Its UDP checksum is never verified
  // here: the director forwards, the real server checks.
  const PacketVerdict v =
      packet_verdict(decider_, {payload, plen}, packet_mark, batch.now, batch.policy, senders_.get(), lladdr);
  if (v.decide_failed) {
    ++batch.tally[QueueCounter::decide_errors];
    if (log::is_power_of_two(++decide_failures_))
      LOG_ERR("queue %u: deciding packet %u failed (%s): %s (%llu times)", options_.queue, id, v.decide_error,
              v.kind == PacketVerdict::Kind::outgoing ? "accepted as it came" : "given the unplaced policy",
              static_cast<unsigned long long>(decide_failures_));
  }
  if (v.decision.outcome == sipvs::Outcome::unknown_sender && log::is_power_of_two(++unknown_senders_))
    LOG_WARN("queue %u: a message of service %s came from link-layer address %s, which no real server of it has in "
             "the neighbour table: forwarded, its call not learned (%llu times)",
             options_.queue, v.decision.service->name.c_str(), lladdr_text(lladdr).c_str(),
             static_cast<unsigned long long>(unknown_senders_));
  answer(id, v, batch);
  ++batch.tally[QueueCounter::packets];
  batch.tally[QueueCounter::bytes] += plen;

  if (log::debug_on(log::kPacketDebug))
    log::write(log::Level::debug, "q%u id=%u len=%zu %s verdict=%s mark_in=0x%x mark_out=0x%x", options_.queue, id, plen,
               sipvs::describe(v.decision).c_str(), v.kind == PacketVerdict::Kind::unplaced_dropped ? "drop" : "accept",
               packet_mark, v.mark);
}

void QueueWorker::put_unplaced(uint32_t id, Batch& batch) {
  PacketVerdict v;
  v.kind = unplaced_kind(batch.policy);
  answer(id, v, batch);
}

void QueueWorker::answer(uint32_t id, const PacketVerdict& v, Batch& batch) {
  switch (v.kind) {
    case PacketVerdict::Kind::placed:
      put_verdict(id, NF_ACCEPT, v.mark, batch);
      ++batch.tally[QueueCounter::placed];
      break;
    case PacketVerdict::Kind::unplaced_accepted:
      put_verdict(id, NF_ACCEPT, std::nullopt, batch);  // mark left as it is
      ++batch.tally[QueueCounter::unplaced_accepted];
      break;
    case PacketVerdict::Kind::unplaced_dropped:
      put_verdict(id, NF_DROP, std::nullopt, batch);
      ++batch.tally[QueueCounter::unplaced_dropped];
      break;
    case PacketVerdict::Kind::outgoing:
      put_verdict(id, NF_ACCEPT, std::nullopt, batch);  // mark left as it is
      ++batch.tally[QueueCounter::outgoing];
      break;
  }
}

void QueueWorker::put_verdict(uint32_t id, int verdict, std::optional<uint32_t> mark, Batch& batch) {
  // A full buffer means sends failing for a whole batch: the packet waits
  // for its verdict's room rather than go without one.
  while (!verdicts_.has_room()) {
    send_verdicts(batch);
    if (verdicts_.has_room()) break;
    if (stop_.load(std::memory_order_relaxed)) return;  // unbinding drops what is queued
    std::this_thread::sleep_for(kVerdictRetryPause);
  }
  nlmsghdr* v = nfq_nlmsg_put(verdicts_.next(), NFQNL_MSG_VERDICT, options_.queue);
  nfq_nlmsg_verdict_put(v, static_cast<int>(id), verdict);
  if (mark) nfq_nlmsg_verdict_put_mark(v, *mark);
  verdicts_.commit();
}

void QueueWorker::flush_verdicts() {
  int error = 0;
  const VerdictBuffer::FlushResult r = verdicts_.flush([&](const char* data, std::size_t len) {
    if (mnl_socket_sendto(nl_, data, len) >= 0) return true;
    error = errno;
    return false;
  });
  if (r.failed_sends == 0) return;
  counters_[QueueCounter::verdict_send_errors].fetch_add(r.failed_sends, std::memory_order_relaxed);
  if (log::is_power_of_two(++verdict_failures_))
    LOG_ERR("queue %u: sending verdicts failed: %s; %zu still unsent, to be retried (%llu times)", options_.queue,
            std::strerror(error), r.unsent, static_cast<unsigned long long>(verdict_failures_));
}

void QueueWorker::send_verdicts(Batch& batch) {
  flush_verdicts();  // all verdicts of the batch, each with its own packet id and mark, in one sendmsg
  for (const QueueCounterInfo& row : kQueueCounters) {
    uint64_t& n = batch.tally[row.counter];
    if (n == 0 || row.high_water) continue;
    counters_[row.counter].fetch_add(n, std::memory_order_relaxed);
    n = 0;
  }
}

}  // namespace sipvsd
