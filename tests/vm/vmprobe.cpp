// vmprobe: the VM test's SIP traffic, sent and received inside the guest.
//
//   vmprobe cases                         the packet sequence, one line per packet
//   vmprobe send SRC_IP SRC_PORT DST_IP DST_PORT [GAP_MS [TAG [PAD]]]
//                                         sends that sequence from one socket (one client IP:port);
//                                         TAG makes its Call-IDs new ones ("call-1-TAG@..."); PAD
//                                         bytes of an X-Pad header right after each INVITE's request
//                                         line make it travel in IP fragments, its Call-ID in a later one
//   vmprobe sink NAME PORT LOGFILE        receives on UDP PORT (any IPv4 or IPv6 address), logs
//                                         "NAME <destination address> <packet number>" per datagram
//
// Every packet carries "X-Seq: N" (in the body for packets that are not SIP),
// so the sink can say which packet it got whatever happened to its headers.
// The sequence: phase 1 interleaves six calls of four messages each (the
// affinity check); phase 2 holds one small call per edge case of Call-ID
// handling (compact form, case, folding, missing, empty, not SIP).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

struct Packet {
  std::string group;  // a call of phase 1 ("call-3") or an edge case ("compact")
  std::string text;   // LF line ends; sent with CRLF
};

std::string request(const std::string& method, int cseq, const std::string& call_id_line) {
  std::string m = method + " sip:bob@198.18.2.100 SIP/2.0\n"
                  "Via: SIP/2.0/UDP 198.18.1.2:5060;branch=z9hG4bK-" + std::to_string(cseq) + "\n"
                  "From: <sip:alice@198.18.1.2>;tag=a1\n"
                  "To: <sip:bob@198.18.2.100>\n";
  if (!call_id_line.empty()) m += call_id_line + "\n";
  m += "CSeq: " + std::to_string(cseq) + " " + method + "\nMax-Forwards: 70\nContent-Length: 0\n";
  return m;
}

std::vector<Packet> cases(const std::string& tag = "") {
  const std::string t = tag.empty() ? "" : "-" + tag;
  std::vector<Packet> out;
  // Phase 1: calls interleaved, all from the same client IP:port.
  const char* methods[] = {"INVITE", "ACK", "INFO", "BYE"};
  for (int round = 0; round < 4; ++round)
    for (int call = 1; call <= 6; ++call)
      out.push_back({"call-" + std::to_string(call),
                     request(methods[round], round + 1, "Call-ID: call-" + std::to_string(call) + t + "@198.18.1.2")});
  // Phase 2: the first packet of each case uses the plain long form, the
  // following ones the variant, so "same server as the first" tells whether
  // the variant was read as the same Call-ID.
  auto edge = [&](const std::string& group, std::vector<std::string> lines) {
    int cseq = 1;
    for (const auto& l : lines) out.push_back({group, request(cseq == 1 ? "INVITE" : "INFO", cseq, l)}), ++cseq;
  };
  edge("compact-i", {"Call-ID: cmp@x", "i: cmp@x", "i: cmp@x"});
  edge("lowercase-name", {"Call-ID: lc@x", "call-id: lc@x", "CALL-ID: lc@x"});
  edge("folded-value", {"Call-ID: fold@x", "Call-ID:\n   fold@x", "Call-ID:\n\tfold@x"});
  edge("space-before-colon", {"Call-ID: sp@x", "Call-ID  :  sp@x", "Call-ID\t: sp@x"});
  edge("value-case", {"Call-ID: CaseX@x", "Call-ID: casex@x"});  // two calls: values are case-sensitive
  edge("differ-after-at", {"Call-ID: same@a.example", "Call-ID: same@b.example"});  // two calls
  edge("trailing-space", {"Call-ID: tw@x", "Call-ID: tw@x   "});
  edge("no-call-id", {"", ""});
  edge("empty-call-id", {"Call-ID: ", "Call-ID:"});
  out.push_back({"not-sip", "HELLO this is not SIP\n\n"});
  out.push_back({"not-sip", "HELLO this is not SIP either\n\n"});
  return out;
}

// The wire form: CRLF line ends, the packet number and, for an INVITE, `pad` bytes of padding.
std::string wire(const Packet& p, std::size_t seq, std::size_t pad) {
  std::string body = p.text;
  const bool sip = body.find(" SIP/2.0\n") != std::string::npos;
  if (sip && pad > 0 && body.rfind("INVITE ", 0) == 0) body.insert(body.find('\n') + 1, "X-Pad: " + std::string(pad, 'p') + "\n");
  if (sip) {
    const auto cl = body.find("Content-Length: 0\n");
    body.insert(cl, "X-Seq: " + std::to_string(seq) + "\n");
    body += "\n";
  } else {
    body += "X-Seq: " + std::to_string(seq) + "\n";
  }
  std::string out;
  for (char c : body) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

int print_cases() {
  const auto c = cases();
  for (std::size_t i = 0; i < c.size(); ++i) std::printf("%zu %s\n", i + 1, c[i].group.c_str());
  return 0;
}

bool fill(sockaddr_storage& ss, socklen_t& len, const char* ip, const char* port) {
  std::memset(&ss, 0, sizeof ss);
  const auto p = static_cast<uint16_t>(std::atoi(port));
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(p);
    len = sizeof *a4;
    return true;
  }
  if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(p);
    len = sizeof *a6;
    return true;
  }
  return false;
}

int send_cases(char** argv, int argc) {
  sockaddr_storage src, dst;
  socklen_t src_len = 0, dst_len = 0;
  if (!fill(src, src_len, argv[0], argv[1]) || !fill(dst, dst_len, argv[2], argv[3])) {
    std::fprintf(stderr, "vmprobe: bad address\n");
    return 2;
  }
  const long gap_ms = argc > 4 ? std::atol(argv[4]) : 20;
  const std::string tag = argc > 5 ? argv[5] : "";
  const std::size_t pad = argc > 6 ? std::strtoul(argv[6], nullptr, 10) : 0;
  const int s = socket(src.ss_family, SOCK_DGRAM, 0);
  const int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&src), src_len) != 0) {
    std::perror("vmprobe: bind");
    return 1;
  }
  const auto c = cases(tag);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const std::string w = wire(c[i], i + 1, pad);
    if (sendto(s, w.data(), w.size(), 0, reinterpret_cast<sockaddr*>(&dst), dst_len) < 0) std::perror("vmprobe: send");
    timespec ts{gap_ms / 1000, (gap_ms % 1000) * 1000000};
    nanosleep(&ts, nullptr);
  }
  close(s);
  std::printf("sent %zu packets\n", c.size());
  return 0;
}

// The destination address of a datagram, from its IP_PKTINFO or IPV6_PKTINFO.
std::string destination(msghdr& m) {
  char to[INET6_ADDRSTRLEN] = "?";
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
      inet_ntop(AF_INET, &reinterpret_cast<in_pktinfo*>(CMSG_DATA(c))->ipi_addr, to, sizeof to);
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      const in6_addr& a = reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c))->ipi6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&a))
        inet_ntop(AF_INET, &a.s6_addr[12], to, sizeof to);
      else
        inet_ntop(AF_INET6, &a, to, sizeof to);
    }
  }
  return to;
}

int sink(const char* name, const char* port, const char* path) {
  const int s = socket(AF_INET6, SOCK_DGRAM, 0);  // IPv4 too, as mapped addresses
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(std::atoi(port)));
  const int one = 1, zero = 0;
  setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("vmprobe: bind");
    return 1;
  }
  std::FILE* log = std::fopen(path, "a");
  if (!log) return 1;
  std::setvbuf(log, nullptr, _IOLBF, 0);
  std::fprintf(log, "%s listening\n", name);
  static char buf[65536];
  for (;;) {
    char control[256];
    iovec iov{buf, sizeof buf - 1};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(s, &m, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    buf[n] = '\0';
    const char* seq = std::strstr(buf, "X-Seq: ");
    std::fprintf(log, "%s %s %ld\n", name, destination(m).c_str(), seq ? std::strtol(seq + 7, nullptr, 10) : -1L);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "cases") return print_cases();
  if (cmd == "send" && argc >= 6) return send_cases(argv + 2, argc - 2);
  if (cmd == "sink" && argc == 5) return sink(argv[2], argv[3], argv[4]);
  std::fprintf(stderr,
               "usage: vmprobe cases | send SRC_IP SRC_PORT DST_IP DST_PORT [GAP_MS [TAG [PAD]]] | sink NAME PORT LOGFILE\n");
  return 2;
}
