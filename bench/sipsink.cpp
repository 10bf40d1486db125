// sipsink: the benchmark's receiver at the real servers (bench/run.sh).
//
// Binds UDP port 5060 (any address: the VIP for direct routing, the server's
// own address when a proxy forwards to it) in each of the given network
// namespaces — one process, one socket per namespace, all read with
// recvmmsg() from one poll() loop — and counts what arrives:
//   - delivered packets, per server and per 10 ms, and the steady rate: the
//     packets received from `--skip` seconds after the first one until the
//     newest send time stamp seen (the sender's end; the backlog that drains
//     after it stops does not count), divided by that window;
//   - one-way latency: receive time (CLOCK_MONOTONIC, right after recvmmsg)
//     minus the sender's "X-Ts:" header, in a log-linear histogram (1/128
//     relative resolution) for p50/p90/p99;
//   - Call-IDs seen at more than one server ("split" calls: persistence broken);
//   - the sockets' own overflow drops (SO_RXQ_OVFL), to tell them from loss
//     upstream.
// Bounded: stops after --seconds in all, after --idle seconds without packets
// once traffic has started, or on SIGTERM/SIGINT; then prints one line,
// "sipsink key=value ...".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"

namespace {

constexpr double kMaxSeconds = 600;
constexpr uint64_t kMaxCalls = 10'000'000;
constexpr unsigned kMaxSockets = 16;
constexpr unsigned kBatch = 64;
constexpr std::size_t kBufSize = 2048;
constexpr uint64_t kBinNs = 10'000'000;  // 10 ms

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Log-linear histogram of nanoseconds: exact below 128 ns, then 128 buckets
// per power of two (< 0.8 % error).
class Histogram {
 public:
  static constexpr int kSub = 7;
  static constexpr std::size_t kBuckets = (64 - kSub + 1) << kSub;
  void add(uint64_t v) {
    ++counts_[index(v)];
    ++n_;
    max_ = std::max(max_, v);
  }
  uint64_t count() const { return n_; }
  uint64_t max() const { return max_; }
  // The value below which a fraction q of the samples lie (bucket midpoint).
  double quantile(double q) const {
    if (n_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n_ - 1));
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return midpoint(i);
    }
    return static_cast<double>(max_);
  }

 private:
  static std::size_t index(uint64_t v) {
    if (v < (1u << kSub)) return static_cast<std::size_t>(v);
    const int e = 63 - std::countl_zero(v);  // >= kSub
    const uint64_t sub = (v >> (e - kSub)) & ((1u << kSub) - 1);
    return (static_cast<std::size_t>(e - kSub + 1) << kSub) + sub;
  }
  static double midpoint(std::size_t i) {
    if (i < (1u << kSub)) return static_cast<double>(i);
    const int e = static_cast<int>(i >> kSub) + kSub - 1;
    const uint64_t sub = i & ((1u << kSub) - 1);
    const double lo = static_cast<double>(((1ull << kSub) | sub) << (e - kSub));
    return lo + static_cast<double>(1ull << (e - kSub)) / 2;
  }
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0, max_ = 0;
};

struct Options {
  std::vector<std::string> netns;  // empty: the current namespace
  uint16_t port = 5060;
  double seconds = 30;
  double idle = 1.0;
  double skip = 0.3;
  uint64_t calls = 0;  // > 0: check that every call stays on one server
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: sipsink [--netns NS1,NS2,...] [--port N] [--seconds S] [--idle S] [--skip S] [--calls N]\n"
               "  --seconds: hard limit (default 30, at most %.0f); --idle: stop after this long without\n"
               "  packets once traffic started (1); --skip: warm-up left out of rate and latency (0.3);\n"
               "  --calls: the sender's number of calls, to detect calls split across servers.\n",
               kMaxSeconds);
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  bench::for_each_option(argc, argv, usage, [&](std::string_view a, const char* v) {
    if (a == "--netns") {
      std::string_view list = v;
      while (!list.empty()) {
        const std::size_t comma = std::min(list.find(','), list.size());
        if (comma > 0) o.netns.emplace_back(list.substr(0, comma));
        list.remove_prefix(std::min(comma + 1, list.size()));
      }
    } else if (a == "--port") {
      o.port = static_cast<uint16_t>(bench::number("sipsink", v, "--port"));
    } else if (a == "--seconds") {
      o.seconds = std::min(bench::number("sipsink", v, "--seconds"), kMaxSeconds);
    } else if (a == "--idle") {
      o.idle = bench::number("sipsink", v, "--idle");
    } else if (a == "--skip") {
      o.skip = bench::number("sipsink", v, "--skip");
    } else if (a == "--calls") {
      o.calls = std::min<uint64_t>(static_cast<uint64_t>(bench::number("sipsink", v, "--calls")), kMaxCalls);
    } else {
      return false;
    }
    return true;
  });
  if (o.netns.size() > kMaxSockets) {
    std::fprintf(stderr, "sipsink: at most %u namespaces\n", kMaxSockets);
    std::exit(2);
  }
  return o;
}

int open_socket(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1, rcvbuf = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A socket in another network namespace: enter it, create, come back.
int open_socket_in(const std::string& ns, uint16_t port, int home) {
  const std::string path = "/run/netns/" + ns;
  const int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    std::fprintf(stderr, "sipsink: %s: %s\n", path.c_str(), std::strerror(errno));
    return -1;
  }
  if (setns(nsfd, CLONE_NEWNET) < 0) {
    std::fprintf(stderr, "sipsink: setns %s: %s\n", ns.c_str(), std::strerror(errno));
    close(nsfd);
    return -1;
  }
  close(nsfd);
  const int fd = open_socket(port);
  const int err = errno;
  if (setns(home, CLONE_NEWNET) < 0) {
    std::fprintf(stderr, "sipsink: cannot return to the original namespace: %s\n", std::strerror(errno));
    std::exit(1);
  }
  if (fd < 0) std::fprintf(stderr, "sipsink: socket in %s: %s\n", ns.c_str(), std::strerror(err));
  return fd;
}

// The value of a header in a SIP message ("\r\nName: value"), or empty.
std::string_view header(std::string_view msg, std::string_view name_colon) {
  std::size_t from = 0;
  for (;;) {
    const std::size_t p = msg.find(name_colon, from);
    if (p == std::string_view::npos) return {};
    if (p >= 1 && msg[p - 1] == '\n') {
      std::size_t v = p + name_colon.size();
      while (v < msg.size() && msg[v] == ' ') ++v;
      const std::size_t e = msg.find('\r', v);
      return msg.substr(v, (e == std::string_view::npos ? msg.size() : e) - v);
    }
    from = p + 1;
  }
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// sipgen's Call-IDs are "<tag>-<8 digits>-<hex>@<host>": the call number.
bool call_number(std::string_view callid, uint64_t& out) {
  const std::size_t dash = callid.find('-');
  if (dash == std::string_view::npos || callid.size() < dash + 9) return false;
  return parse_u64(callid.substr(dash + 1, 8), out);
}

// One socket per namespace (or one in the current namespace); exits when
// one cannot be made.
std::vector<int> open_sockets(const Options& o) {
  std::vector<int> fds;
  if (o.netns.empty()) {
    const int fd = open_socket(o.port);
    if (fd < 0) {
      std::perror("sipsink: socket");
      std::exit(1);
    }
    fds.push_back(fd);
    return fds;
  }
  const int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    std::perror("sipsink: /proc/self/ns/net");
    std::exit(1);
  }
  for (const auto& ns : o.netns) {
    const int fd = open_socket_in(ns, o.port, home);
    if (fd < 0) std::exit(1);
    fds.push_back(fd);
  }
  close(home);
  return fds;
}

// Everything counted, sized up front: nothing is allocated per packet.
struct Tally {
  Tally(const Options& o, std::size_t sockets)
      : call_server(o.calls, 0),
        per_server(sockets, 0),
        drops(sockets, 0),
        bins(static_cast<std::size_t>(o.seconds * 1e9 / kBinNs) + 2, 0),
        skip_ns(static_cast<uint64_t>(o.skip * 1e9)) {}

  // r messages arrived at socket s at time rx.
  void arrived(std::size_t s, uint64_t rx, int r) {
    if (!first) first = rx;
    last = rx;
    delivered += static_cast<uint64_t>(r);
    per_server[s] += static_cast<uint64_t>(r);
    const std::size_t bin = static_cast<std::size_t>((rx - t0) / kBinNs);
    if (bin < bins.size()) bins[bin] += static_cast<uint64_t>(r);
  }

  // The socket's overflow count (SO_RXQ_OVFL) as of this message.
  void overflow(std::size_t s, msghdr& h) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t d;
        std::memcpy(&d, CMSG_DATA(c), sizeof d);
        drops[s] = std::max<uint64_t>(drops[s], d);
      }
    }
  }

  // One message received at socket s at time rx: its latency and its call.
  void message(std::size_t s, uint64_t rx, std::string_view msg) {
    uint64_t ts = 0, call = 0;
    if (!parse_u64(header(msg, "X-Ts:"), ts) || ts > rx) {
      ++bad;
      return;
    }
    ts_max = std::max(ts_max, ts);
    if (rx >= first + skip_ns) latency.add(rx - ts);
    if (!call_server.empty() && call_number(header(msg, "Call-ID:"), call) && call < call_server.size()) {
      uint8_t& cs = call_server[call];
      const uint8_t mine = static_cast<uint8_t>(s + 1);
      if (cs == 0) {
        cs = mine;
        ++calls_seen;
      } else if (cs != mine && cs != 0xff) {
        cs = 0xff;
        ++split_calls;
      }
    }
  }

  // Per call: 0 = not seen, 1 + server index, or 0xff = seen at two servers.
  std::vector<uint8_t> call_server;
  uint64_t split_calls = 0, calls_seen = 0, bad = 0;
  std::vector<uint64_t> per_server, drops;
  std::vector<uint64_t> bins;  // packets received per kBinNs since t0
  Histogram latency;
  uint64_t delivered = 0, first = 0, last = 0, ts_max = 0;
  uint64_t t0 = 0;  // time zero of the bins and of --seconds, once ready
  const uint64_t skip_ns;
};

// Reads socket s until it is empty or for 16 batches, whichever comes first
// (then the others get their turn).
void drain(int fd, std::size_t s, Tally& tally) {
  static char buffers[kBatch][kBufSize];
  static char controls[kBatch][CMSG_SPACE(sizeof(uint32_t))];
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (int rounds = 0; rounds < 16; ++rounds) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {buffers[i], kBufSize};
      std::memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = controls[i];
      msgs[i].msg_hdr.msg_controllen = sizeof controls[i];
    }
    const int r = recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (r <= 0) break;
    const uint64_t rx = now_ns();
    tally.arrived(s, rx, r);
    for (int i = 0; i < r; ++i) {
      tally.overflow(s, msgs[i].msg_hdr);
      tally.message(s, rx, std::string_view(buffers[i], std::min<std::size_t>(msgs[i].msg_len, kBufSize)));
    }
    if (r < static_cast<int>(kBatch)) break;
  }
}

// Until --seconds, --idle after traffic started, or a signal.
void receive(const Options& o, const std::vector<int>& fds, Tally& tally) {
  const std::size_t nsock = fds.size();
  std::vector<pollfd> pfds(nsock);
  for (std::size_t i = 0; i < nsock; ++i) pfds[i] = {fds[i], POLLIN, 0};
  const uint64_t deadline = tally.t0 + static_cast<uint64_t>(o.seconds * 1e9);
  const uint64_t idle_ns = static_cast<uint64_t>(o.idle * 1e9);
  while (!g_stop) {
    const uint64_t t = now_ns();
    if (t >= deadline) break;
    if (tally.first && t - tally.last > idle_ns) break;
    const int ready = poll(pfds.data(), nsock, 50);
    if (ready <= 0) continue;
    for (std::size_t s = 0; s < nsock; ++s)
      if (pfds[s].revents & POLLIN) drain(fds[s], s, tally);
  }
}

struct SteadyRate {
  double rate = 0, window = 0;
};

// Receive bins from first + skip up to the sender's last stamp.
SteadyRate steady_rate(const Tally& t) {
  SteadyRate out;
  if (!t.first || t.ts_max <= t.first + t.skip_ns) return out;
  const std::size_t b0 = static_cast<std::size_t>((t.first + t.skip_ns - t.t0) / kBinNs);
  const std::size_t b1 = std::min(static_cast<std::size_t>((t.ts_max - t.t0) / kBinNs), t.bins.size());
  uint64_t n = 0;
  for (std::size_t b = b0; b < b1; ++b) n += t.bins[b];
  out.window = static_cast<double>(b1 - b0) * static_cast<double>(kBinNs) / 1e9;
  if (out.window > 0) out.rate = static_cast<double>(n) / out.window;
  return out;
}

// Packets per second from the first to the last, comma-separated; "-" if none.
std::string per_second(const Tally& t) {
  std::string out;
  if (t.first) {
    const std::size_t b0 = static_cast<std::size_t>((t.first - t.t0) / kBinNs);
    const std::size_t b1 = std::min(static_cast<std::size_t>((t.last - t.t0) / kBinNs) + 1, t.bins.size());
    for (std::size_t b = b0; b < b1; b += 100) {
      uint64_t n = 0;
      for (std::size_t k = b; k < std::min(b + 100, b1); ++k) n += t.bins[k];
      if (b > b0) out += ',';
      out += std::to_string(n);
    }
  }
  return out.empty() ? "-" : out;
}

void report(const Tally& t) {
  const SteadyRate steady = steady_rate(t);
  std::string servers;
  uint64_t drop_total = 0;
  for (std::size_t s = 0; s < t.per_server.size(); ++s) {
    if (s) servers += ',';
    servers += std::to_string(t.per_server[s]);
    drop_total += t.drops[s];
  }
  std::printf("sipsink delivered=%llu per_server=%s rate_pps=%.0f window_s=%.2f lat_n=%llu lat_p50_us=%.1f "
              "lat_p90_us=%.1f lat_p99_us=%.1f lat_max_us=%.1f calls_seen=%llu split_calls=%llu bad=%llu "
              "sink_drops=%llu per_second=%s\n",
              static_cast<unsigned long long>(t.delivered), servers.c_str(), steady.rate, steady.window,
              static_cast<unsigned long long>(t.latency.count()), t.latency.quantile(0.50) / 1e3,
              t.latency.quantile(0.90) / 1e3, t.latency.quantile(0.99) / 1e3,
              static_cast<double>(t.latency.max()) / 1e3, static_cast<unsigned long long>(t.calls_seen),
              static_cast<unsigned long long>(t.split_calls), static_cast<unsigned long long>(t.bad),
              static_cast<unsigned long long>(drop_total), per_second(t).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const std::vector<int> fds = open_sockets(o);
  Tally tally(o, fds.size());
  std::fprintf(stderr, "sipsink: ready (%zu sockets, port %u)\n", fds.size(), o.port);
  tally.t0 = now_ns();
  receive(o, fds, tally);
  report(tally);
  for (int fd : fds) close(fd);
  return 0;
}
