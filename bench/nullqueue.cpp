// nullqueue: the ceiling of any NFQUEUE director, for the benchmark.
//
// Binds one NFQUEUE and accepts every packet with a fixed mark, doing the same
// system-call work per wake-up as sipvsd (one blocking recvmsg, then up to 64
// more netlink messages drained with recvmmsg(MSG_DONTWAIT), then all the
// verdicts in one sendmsg) and the same queue settings (copy whole packets,
// maxlen 8192, fail-open, GSO off, 8 MiB receive buffer, NETLINK_NO_ENOBUFS), but
// no decision at all. What sipvsd reaches relative to this is the cost of its
// parsing and deciding.
//
// usage: nullqueue [--queue N] [--mark M] [--seconds S] [--maxlen N]
// Stops after --seconds (default 30, at most 600) or on SIGTERM/SIGINT, then
// prints one line, "nullqueue key=value ...".
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "args.hpp"

namespace {

constexpr unsigned kBatch = 64;
constexpr unsigned kSlots = kBatch + 1;
constexpr std::size_t kSlotSize = 0x10000 + 4096;  // a multiple of 4096: every slot stays aligned
constexpr std::size_t kVerdictSpace = 64;
constexpr double kMaxSeconds = 600;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "nullqueue: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

struct Options {
  uint16_t queue = 0;
  uint32_t mark = 1, maxlen = 8192;
  double seconds = 30;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: nullqueue [--queue N] [--mark M] [--seconds S] [--maxlen N]\n");
      std::exit(2);
    }
    const char* v = argv[++i];
    if (a == "--queue") o.queue = static_cast<uint16_t>(bench::number("nullqueue", v, "--queue"));
    else if (a == "--mark") o.mark = static_cast<uint32_t>(bench::number("nullqueue", v, "--mark"));
    else if (a == "--seconds") o.seconds = std::min(bench::number("nullqueue", v, "--seconds"), kMaxSeconds);
    else if (a == "--maxlen") o.maxlen = static_cast<uint32_t>(bench::number("nullqueue", v, "--maxlen"));
    else {
      std::fprintf(stderr, "nullqueue: unknown option %s\n", argv[i - 1]);
      std::exit(2);
    }
  }
  return o;
}

struct Counts {
  uint64_t packets = 0, wakeups = 0, max_batch = 0, errors = 0;
};

// One bound queue: the netlink socket, the receive slots (one netlink
// message batch each) and the verdict buffer.
class NullQueue {
 public:
  explicit NullQueue(const Options& o)
      : options_(o), rx_(new char[kSlots * kSlotSize]), tx_(new char[kSlots * 2 * kVerdictSpace]) {
    open_socket();
    bind_queue();
    std::fprintf(stderr, "nullqueue: queue %u bound, mark %u\n", options_.queue, options_.mark);
    std::memset(msgs_, 0, sizeof msgs_);
    for (unsigned i = 0; i < kSlots; ++i) {
      iov_[i] = {rx_.get() + i * kSlotSize, kSlotSize};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }

  ~NullQueue() {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, options_.queue);
    nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
    mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len);
    mnl_socket_close(nl_);
  }

  NullQueue(const NullQueue&) = delete;
  NullQueue& operator=(const NullQueue&) = delete;

  // As sipvsd per wake-up: one blocking recvmsg, the rest drained with
  // recvmmsg, then the verdicts.
  Counts run() {
    Counts c;
    const double t0 = now_s();
    while (!g_stop && now_s() - t0 < options_.seconds) {
      const ssize_t n = recvmsg(fd_, &msgs_[0].msg_hdr, 0);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS) ++c.errors;
        continue;
      }
      msgs_[0].msg_len = static_cast<unsigned>(n);
      unsigned count = 1;
      const int more = recvmmsg(fd_, &msgs_[1], kBatch, MSG_DONTWAIT, nullptr);
      if (more > 0) count += static_cast<unsigned>(more);
      const uint64_t batch = accept_all(count, c.errors);
      c.packets += batch;
      ++c.wakeups;
      c.max_batch = std::max(c.max_batch, batch);
    }
    return c;
  }

 private:
  void open_socket() {
    nl_ = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl_) die("mnl_socket_open");
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) die("mnl_socket_bind");
    fd_ = mnl_socket_get_fd(nl_);
    int rcvbuf = 8 << 20, one = 1;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) die("SO_RCVBUFFORCE");
    mnl_socket_setsockopt(nl_, NETLINK_NO_ENOBUFS, &one, sizeof one);
    timeval tv{0, 200'000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // Bind and configure in one message and wait for the kernel's ack.
  void bind_queue() {
    nlmsghdr* nlh = nfq_nlmsg_put(tx_.get(), NFQNL_MSG_CONFIG, options_.queue);
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = 1;
    nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
    nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
    nfq_nlmsg_cfg_put_qmaxlen(nlh, options_.maxlen);
    // As sipvsd: GSO off, so the kernel segments GSO packets before queueing
    // and the baseline pays for one verdict per datagram as sipvsd does.
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) die("sending the queue configuration");
    const ssize_t n = recv(fd_, rx_.get(), kSlotSize, 0);
    if (n < 0) die("waiting for the configuration ack");
    const auto* r = reinterpret_cast<const nlmsghdr*>(rx_.get());
    if (r->nlmsg_type == NLMSG_ERROR) {
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r));
      if (err->error != 0) {
        errno = -err->error;
        die("binding the queue");
      }
    }
  }

  // Accepts every packet of the first `count` slots with the mark; returns
  // how many.
  uint64_t accept_all(unsigned count, uint64_t& errors) {
    std::size_t tx_len = 0;
    uint64_t batch = 0;
    for (unsigned i = 0; i < count; ++i) {
      int left = static_cast<int>(msgs_[i].msg_len);
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(iov_[i].iov_base);
      for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE ||
            NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET)
          continue;
        nlattr* attr[NFQA_MAX + 1] = {};
        if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) {
          ++errors;
          continue;
        }
        const auto* ph = static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
        nlmsghdr* v = nfq_nlmsg_put(tx_.get() + tx_len, NFQNL_MSG_VERDICT, options_.queue);
        nfq_nlmsg_verdict_put(v, static_cast<int>(ntohl(ph->packet_id)), NF_ACCEPT);
        nfq_nlmsg_verdict_put_mark(v, options_.mark);
        tx_len += NLMSG_ALIGN(v->nlmsg_len);
        ++batch;
        if (tx_len + kVerdictSpace > kSlots * 2 * kVerdictSpace) {
          if (mnl_socket_sendto(nl_, tx_.get(), tx_len) < 0) ++errors;
          tx_len = 0;
        }
      }
    }
    if (tx_len > 0 && mnl_socket_sendto(nl_, tx_.get(), tx_len) < 0) ++errors;
    return batch;
  }

  const Options options_;
  mnl_socket* nl_ = nullptr;
  int fd_ = -1;
  std::unique_ptr<char[]> rx_, tx_;
  mmsghdr msgs_[kSlots];
  iovec iov_[kSlots];
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const Counts c = NullQueue(options).run();  // the queue is unbound here
  std::printf("nullqueue packets=%llu wakeups=%llu avg_batch=%.1f max_batch=%llu errors=%llu\n",
              static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.wakeups),
              c.wakeups ? static_cast<double>(c.packets) / static_cast<double>(c.wakeups) : 0.0,
              static_cast<unsigned long long>(c.max_batch), static_cast<unsigned long long>(c.errors));
  return 0;
}
