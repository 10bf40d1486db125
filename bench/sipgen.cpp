// sipgen: bounded SIP-over-UDP load generator for the benchmark (bench/run.sh).
//
// Sends INVITE / ACK / BYE-like requests (about 900 / 420 / 450 bytes) for N
// distinct Call-IDs with sendmmsg(), either as fast as it can or at a target
// rate, and stops at a hard bound on packets and on seconds, whichever comes
// first. Every message carries "X-Ts: <CLOCK_MONOTONIC ns>" written just
// before its sendmmsg(), so that a receiver on the same machine (sipsink)
// measures one-way latency.
//
// Traffic: packet k belongs to call k % N; the calls are walked in passes, and
// pass p sends method p % 3 (INVITE, then ACK, then BYE, then INVITE again),
// so N calls are always "live" at once and a call's messages are N packets
// apart, as with N concurrent dialogs. Call c comes from source address
// c % S (one socket bound to the wildcard address; the source of each message
// is set with IP_PKTINFO), so a call always comes from the same IP:port, as
// from one user agent; with S = 1 everything comes from one IP:port. With
// --fresh 1, a call ends with its BYE: the next INVITE in its place starts a new
// call (pass p uses call numbers (p / 3) * N ..), so every INVITE is a call
// never seen before, followed N packets later by its ACK and its BYE.
//
// Output: one line, "sipgen key=value ...".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"

namespace {

// Hard bounds: whatever the command line says, no run goes past these.
constexpr uint64_t kMaxPackets = 200'000'000;
constexpr double kMaxSeconds = 120;
constexpr uint64_t kMaxCalls = 10'000'000;
constexpr unsigned kMaxSources = 256;
constexpr unsigned kMaxBatch = 256;
constexpr std::size_t kMsgMax = 1400;
constexpr std::size_t kMaxCallIdLen = 300;  // past sipvsd's 255, to reach its limit too

// Fixed-width fields patched into prebuilt messages.
constexpr int kCallDigits = 8;    // call number in the Call-ID
constexpr int kSeqDigits = 10;    // packet sequence in the Via branch
constexpr int kTsDigits = 19;     // X-Ts, nanoseconds

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void put_digits(char* at, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

struct Options {
  std::string dst = "198.18.2.100";
  uint16_t dport = 5060;
  std::string src = "198.18.0.1";  // first source address
  unsigned sources = 1;            // consecutive source addresses from `src`
  uint16_t sport = 5060;
  uint64_t calls = 10'000;
  uint64_t count = 1'000'000;
  double seconds = 5;
  double rate = 0;  // packets per second, 0 = as fast as possible
  unsigned batch = 32;
  std::string tag = "b";  // part of every Call-ID, so that runs do not share calls
  std::size_t callid_len = 0;  // pad Call-IDs to this many bytes (a memory-hungry flood)
  bool fresh = false;          // every INVITE a new call (see the top of the file)
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: sipgen [--dst IP] [--dport N] [--src IP] [--sources S] [--sport N]\n"
               "              [--calls N] [--count N] [--seconds S] [--rate PPS] [--batch B] [--tag T]\n"
               "              [--callid-len L] [--fresh 0|1]\n"
               "  sends to --dst:--dport (default 198.18.2.100:5060) from S consecutive source\n"
               "  addresses starting at --src (default 198.18.0.1, S=1), port --sport (5060);\n"
               "  N calls (default 10000, 1..%llu), stops after --count packets (default 1e6,\n"
               "  at most %llu) or --seconds (default 5, at most %.0f); --rate 0 = flat out;\n"
               "  --callid-len: Call-IDs padded to L bytes (at most %zu; shorter ones stay as they are);\n"
               "  --fresh 1: a call ends with its BYE, and the next INVITE in its place is a new call.\n",
               static_cast<unsigned long long>(kMaxCalls), static_cast<unsigned long long>(kMaxPackets),
               kMaxSeconds, kMaxCallIdLen);
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  bench::for_each_option(argc, argv, usage, [&](std::string_view a, const char* v) {
    if (a == "--dst") o.dst = v;
    else if (a == "--dport") o.dport = static_cast<uint16_t>(bench::number("sipgen", v, "--dport"));
    else if (a == "--src") o.src = v;
    else if (a == "--sources") o.sources = static_cast<unsigned>(bench::number("sipgen", v, "--sources"));
    else if (a == "--sport") o.sport = static_cast<uint16_t>(bench::number("sipgen", v, "--sport"));
    else if (a == "--calls") o.calls = static_cast<uint64_t>(bench::number("sipgen", v, "--calls"));
    else if (a == "--count") o.count = static_cast<uint64_t>(bench::number("sipgen", v, "--count"));
    else if (a == "--seconds") o.seconds = bench::number("sipgen", v, "--seconds");
    else if (a == "--rate") o.rate = bench::number("sipgen", v, "--rate");
    else if (a == "--batch") o.batch = static_cast<unsigned>(bench::number("sipgen", v, "--batch"));
    else if (a == "--tag") o.tag = v;
    else if (a == "--callid-len") o.callid_len = static_cast<std::size_t>(bench::number("sipgen", v, "--callid-len"));
    else if (a == "--fresh") o.fresh = bench::number("sipgen", v, "--fresh") != 0;
    else return false;
    return true;
  });
  o.sources = std::clamp(o.sources, 1u, kMaxSources);
  o.calls = std::clamp<uint64_t>(o.calls, 1, kMaxCalls);
  o.count = std::min(o.count, kMaxPackets);
  o.seconds = std::min(o.seconds, kMaxSeconds);
  o.batch = std::clamp(o.batch, 1u, kMaxBatch);
  if (o.tag.size() > 16 || o.tag.find_first_of("\r\n @") != std::string::npos) {
    std::fprintf(stderr, "sipgen: --tag: at most 16 characters, no spaces or '@'\n");
    std::exit(2);
  }
  if (o.callid_len > kMaxCallIdLen) {
    std::fprintf(stderr, "sipgen: --callid-len: at most %zu\n", kMaxCallIdLen);
    std::exit(2);
  }
  return o;
}

// One prebuilt message (per source address and method) and where its
// variable fields are.
struct Template {
  std::string text;
  std::size_t call_at = 0;  // kCallDigits digits, occurs twice (Call-ID and From tag)
  std::size_t call_at2 = 0;
  std::size_t seq_at = 0;   // kSeqDigits digits in the Via branch
  std::size_t ts_at = 0;    // kTsDigits digits of X-Ts
};

std::size_t find_marker(const std::string& s, std::string_view marker) {
  const std::size_t p = s.find(marker);
  if (p == std::string::npos) {
    std::fprintf(stderr, "sipgen: internal error: marker %.*s\n", static_cast<int>(marker.size()), marker.data());
    std::exit(1);
  }
  return p;
}

// The pieces every method's message shares, markers in place of the
// variable fields: CCCCCCCC (call), SSSSSSSSSS (sequence),
// TTTTTTTTTTTTTTTTTTT (time).
struct MessageParts {
  std::string src;     // the source address
  std::string from;    // src:sport
  std::string ruri;
  std::string via, callid, ts;
  std::string call = "CCCCCCCC";
};

MessageParts message_parts(const std::string& src, const Options& o) {
  MessageParts p;
  const std::string dst = o.dst + ":" + std::to_string(o.dport);
  p.src = src;
  p.from = src + ":" + std::to_string(o.sport);
  std::string word = "5f3a9c1e77b2d48a";  // the Call-ID's constant part, padded to --callid-len
  const std::size_t natural = o.tag.size() + p.call.size() + word.size() + src.size() + 3;
  for (std::size_t i = natural; i < o.callid_len; ++i) word += "0123456789abcdef"[i % 16];
  p.callid = "Call-ID: " + o.tag + "-" + p.call + "-" + word + "@" + src + "\r\n";
  p.via = "Via: SIP/2.0/UDP " + p.from + ";branch=z9hG4bK" + o.tag + "SSSSSSSSSS;rport\r\n";
  p.ts = "X-Ts: TTTTTTTTTTTTTTTTTTT\r\n";
  p.ruri = "sip:service@" + dst;
  return p;
}

// INVITE with an SDP offer: the big one.
std::string invite_text(const MessageParts& p) {
  const std::string sdp =
      "v=0\r\n"
      "o=bench 2890844526 2890844526 IN IP4 " + p.src + "\r\n"
      "s=sipgen call\r\n"
      "c=IN IP4 " + p.src + "\r\n"
      "t=0 0\r\n"
      "m=audio 49170 RTP/AVP 0 8 9 18 101\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\n"
      "a=rtpmap:9 G722/8000\r\n"
      "a=rtpmap:18 G729/8000\r\n"
      "a=fmtp:18 annexb=no\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=fmtp:101 0-16\r\n"
      "a=ptime:20\r\n"
      "a=sendrecv\r\n";
  return "INVITE " + p.ruri + " SIP/2.0\r\n" + p.via +
         "Max-Forwards: 70\r\n"
         "From: \"Bench Caller\" <sip:caller@" + p.from + ">;tag=f" + p.call + "\r\n"
         "To: <" + p.ruri + ">\r\n" + p.callid +
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:caller@" + p.from + ";transport=udp>\r\n"
         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n"
         "Supported: replaces, timer, 100rel\r\n"
         "Session-Expires: 1800;refresher=uac\r\n"
         "User-Agent: sipgen/1 (sipvsd benchmark)\r\n" + p.ts +
         "Content-Type: application/sdp\r\n"
         "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
}

// A request within the dialog the INVITE set up: the To tag of its 2xx,
// `headers` before the time stamp, no body.
std::string in_dialog_text(const MessageParts& p, const std::string& method, int cseq, const std::string& headers) {
  return method + " " + p.ruri + " SIP/2.0\r\n" + p.via +
         "Max-Forwards: 70\r\n"
         "From: \"Bench Caller\" <sip:caller@" + p.from + ">;tag=f" + p.call + "\r\n"
         "To: <" + p.ruri + ">;tag=as6d1f2e3a\r\n" + p.callid +
         "CSeq: " + std::to_string(cseq) + " " + method + "\r\n" + headers + p.ts +
         "Content-Length: 0\r\n\r\n";
}

// ACK for a 2xx.
std::string ack_text(const MessageParts& p) {
  return in_dialog_text(p, "ACK", 1, "Contact: <sip:caller@" + p.from + ";transport=udp>\r\n");
}

std::string bye_text(const MessageParts& p) {
  return in_dialog_text(p, "BYE", 2,
                        "User-Agent: sipgen/1 (sipvsd benchmark)\r\n"
                        "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n");
}

// Method 0 INVITE, 1 ACK, 2 BYE.
Template make_template(int method, const std::string& src, const Options& o) {
  const MessageParts p = message_parts(src, o);
  const std::string m = method == 0 ? invite_text(p) : method == 1 ? ack_text(p) : bye_text(p);
  Template t;
  t.text = m;
  const std::string callid_head = "Call-ID: " + o.tag + "-";
  t.call_at = find_marker(m, callid_head + p.call) + callid_head.size();
  t.call_at2 = find_marker(m, "tag=f" + p.call) + 5;
  t.seq_at = find_marker(m, "SSSSSSSSSS");
  t.ts_at = find_marker(m, "TTTTTTTTTTTTTTTTTTT");
  if (m.size() > kMsgMax) {
    std::fprintf(stderr, "sipgen: internal error: message of %zu bytes\n", m.size());
    std::exit(1);
  }
  return t;
}

sockaddr_in destination(const Options& o) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(o.dport);
  if (inet_pton(AF_INET, o.dst.c_str(), &dst.sin_addr) != 1) {
    std::fprintf(stderr, "sipgen: bad --dst %s\n", o.dst.c_str());
    std::exit(2);
  }
  return dst;
}

struct Sources {
  std::vector<in_addr> addresses;
  std::vector<std::string> text;
};

// --sources consecutive addresses from --src.
Sources source_addresses(const Options& o) {
  in_addr first{};
  if (inet_pton(AF_INET, o.src.c_str(), &first) != 1) {
    std::fprintf(stderr, "sipgen: bad --src %s\n", o.src.c_str());
    std::exit(2);
  }
  Sources s{std::vector<in_addr>(o.sources), std::vector<std::string>(o.sources)};
  for (unsigned i = 0; i < o.sources; ++i) {
    s.addresses[i].s_addr = htonl(ntohl(first.s_addr) + i);
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &s.addresses[i], buf, sizeof buf);
    s.text[i] = buf;
  }
  return s;
}

// One unconnected socket on the wildcard address: no ICMP errors come back
// as send errors, and IP_PKTINFO picks each message's source address.
int open_socket(const Options& o, const Sources& sources) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    std::perror("sipgen: socket");
    std::exit(1);
  }
  int one = 1, sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  sockaddr_in bind_addr{};
  bind_addr.sin_family = AF_INET;
  bind_addr.sin_port = htons(o.sport);
  if (o.sources == 1) bind_addr.sin_addr = sources.addresses[0];
  if (bind(fd, reinterpret_cast<sockaddr*>(&bind_addr), sizeof bind_addr) < 0) {
    std::perror("sipgen: bind");
    std::exit(1);
  }
  return fd;
}

struct Totals {
  uint64_t sent = 0, errors = 0, bytes = 0, method_count[3] = {0, 0, 0};
  uint64_t t0 = 0, t_last = 0;
  uint64_t k = 0;  // next packet number
};

// The messages of one sendmmsg(), built in place from the templates: no
// allocation per packet.
class Batch {
 public:
  Batch(const Options& o, const sockaddr_in& dst, const Sources& sources)
      : o_(o), dst_(dst), sources_(sources), slots_(o.batch), msgs_(o.batch), iov_(o.batch) {
    for (unsigned s = 0; s < o.sources; ++s)
      for (int m = 0; m < 3; ++m) templates_.push_back(make_template(m, sources.text[s], o));
  }

  // Packets first .. first+n-1 into slots 0 .. n-1.
  void fill(uint64_t first, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t pkt = first + i;
      const uint64_t pass = pkt / o_.calls;
      const uint64_t slot_call = pkt % o_.calls;
      const uint64_t call = o_.fresh ? pass / 3 * o_.calls + slot_call : slot_call;
      const int method = static_cast<int>(pass % 3);
      const unsigned s = static_cast<unsigned>(slot_call % o_.sources);
      const Template& tp = templates_[s * 3 + static_cast<unsigned>(method)];
      Slot& slot = slots_[i];
      std::memcpy(slot.data, tp.text.data(), tp.text.size());
      slot.len = tp.text.size();
      slot.ts_at = tp.ts_at;
      slot.method = method;
      put_digits(slot.data + tp.call_at, call, kCallDigits);
      put_digits(slot.data + tp.call_at2, call, kCallDigits);
      put_digits(slot.data + tp.seq_at, pkt, kSeqDigits);
      address(i, s);
    }
  }

  // The time stamp goes in last, just before the messages leave.
  int send(int fd, uint64_t n) {
    const uint64_t t = now_ns();
    for (uint64_t i = 0; i < n; ++i) put_digits(slots_[i].data + slots_[i].ts_at, t, kTsDigits);
    return sendmmsg(fd, msgs_.data(), static_cast<unsigned>(n), 0);
  }

  // The first `sent` messages left.
  void count(int sent, Totals& t) const {
    for (int i = 0; i < sent; ++i) {
      t.bytes += slots_[static_cast<std::size_t>(i)].len;
      ++t.method_count[slots_[static_cast<std::size_t>(i)].method];
    }
  }

 private:
  struct Slot {
    char data[kMsgMax];
    std::size_t len;
    std::size_t ts_at;
    int method;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))];
  };

  // Slot i's header: to --dst, from source s.
  void address(uint64_t i, unsigned s) {
    Slot& slot = slots_[i];
    iov_[i] = {slot.data, slot.len};
    mmsghdr& mh = msgs_[i];
    std::memset(&mh, 0, sizeof mh);
    mh.msg_hdr.msg_name = &dst_;
    mh.msg_hdr.msg_namelen = sizeof dst_;
    mh.msg_hdr.msg_iov = &iov_[i];
    mh.msg_hdr.msg_iovlen = 1;
    if (o_.sources > 1) {
      mh.msg_hdr.msg_control = slot.control;
      mh.msg_hdr.msg_controllen = sizeof slot.control;
      cmsghdr* c = CMSG_FIRSTHDR(&mh.msg_hdr);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      info.ipi_spec_dst = sources_.addresses[s];
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
    }
  }

  const Options& o_;
  sockaddr_in dst_;
  const Sources& sources_;
  std::vector<Template> templates_;  // [source * 3 + method]
  std::vector<Slot> slots_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
};

// With --rate: how many packets are due by `t` beyond those sent; when none
// is, sleeps until the next one is due (or the deadline) and returns 0.
uint64_t due_packets(const Options& o, uint64_t t, uint64_t t0, uint64_t deadline, uint64_t sent) {
  const uint64_t due = static_cast<uint64_t>(static_cast<double>(t - t0) * o.rate / 1e9) + 1;
  if (due > sent) return due - sent;
  const uint64_t next = t0 + static_cast<uint64_t>(static_cast<double>(sent) * 1e9 / o.rate);
  if (next > t) {
    const uint64_t wait = std::min(next - t, deadline - t);
    timespec ts{static_cast<time_t>(wait / 1'000'000'000ull), static_cast<long>(wait % 1'000'000'000ull)};
    nanosleep(&ts, nullptr);
  }
  return 0;
}

Totals run(const Options& o, int fd, Batch& batch) {
  Totals t;
  t.t0 = now_ns();
  const uint64_t deadline = t.t0 + static_cast<uint64_t>(o.seconds * 1e9);
  t.t_last = t.t0;
  while (t.sent < o.count) {
    const uint64_t now = now_ns();
    if (now >= deadline) break;
    uint64_t n = std::min<uint64_t>(o.batch, o.count - t.sent);
    if (o.rate > 0) {
      const uint64_t due = due_packets(o, now, t.t0, deadline, t.sent);
      if (due == 0) continue;
      n = std::min(n, due);
    }
    batch.fill(t.k, n);
    const int r = batch.send(fd, n);
    if (r <= 0) {
      // ENOBUFS/EAGAIN under overload: count, yield a moment, go on. The
      // messages not sent are skipped (their numbers are not reused).
      ++t.errors;
      timespec ts{0, 20'000};
      nanosleep(&ts, nullptr);
      t.k += n;
      continue;
    }
    batch.count(r, t);
    t.sent += static_cast<uint64_t>(r);
    t.k += n;  // a partial send skips the rest of the batch
    t.t_last = now_ns();
  }
  return t;
}

void report(const Options& o, const Totals& t) {
  const double secs = static_cast<double>(t.t_last - t.t0) / 1e9;
  std::printf("sipgen sent=%llu errors=%llu skipped=%llu seconds=%.3f pps=%.0f avg_bytes=%.0f invite=%llu ack=%llu "
              "bye=%llu calls=%llu sources=%u rate=%.0f t_start_ns=%llu t_end_ns=%llu\n",
              static_cast<unsigned long long>(t.sent), static_cast<unsigned long long>(t.errors),
              static_cast<unsigned long long>(t.k - t.sent), secs,
              secs > 0 ? static_cast<double>(t.sent) / secs : 0.0,
              t.sent ? static_cast<double>(t.bytes) / static_cast<double>(t.sent) : 0.0,
              static_cast<unsigned long long>(t.method_count[0]), static_cast<unsigned long long>(t.method_count[1]),
              static_cast<unsigned long long>(t.method_count[2]), static_cast<unsigned long long>(o.calls), o.sources,
              o.rate, static_cast<unsigned long long>(t.t0), static_cast<unsigned long long>(t.t_last));
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const sockaddr_in dst = destination(o);
  const Sources sources = source_addresses(o);
  const int fd = open_socket(o, sources);
  // Short sleeps when pacing (the default slack is 50 us).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  Batch batch(o, dst, sources);
  const Totals t = run(o, fd, batch);
  report(o, t);
  close(fd);
  return 0;
}
