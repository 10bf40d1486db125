// `sipvsd replay`: link types, reassembly, decisions, from captures written here.
#include <doctest/doctest.h>

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../bytes.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/tools/replay.hpp"

namespace {

using test::append;
using test::Bytes;
using test::put16;

Bytes sip(const std::string& method, const std::string& call_id, std::size_t body = 0) {
  std::string m = method + " sip:x@198.18.2.100 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:5061;branch=z9hG4bK1\r\n" +
                  "Call-ID: " + call_id + "\r\nCSeq: 1 " + method + "\r\nContent-Length: " + std::to_string(body) +
                  "\r\n\r\n" + std::string(body, 'x');
  return Bytes(m.begin(), m.end());
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  Bytes u(8);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, static_cast<unsigned>(8 + payload.size()));
  append(u, payload);
  return u;
}

// An IPv4 packet (or fragment: `offset` in bytes, `more` fragments follow).
Bytes ipv4(const char* src, const char* dst, const Bytes& l4, uint16_t id = 1, std::size_t offset = 0,
           bool more = false) {
  Bytes p(20);
  p[0] = 0x45;
  put16(p, 2, static_cast<unsigned>(20 + l4.size()));
  put16(p, 4, id);
  put16(p, 6, static_cast<unsigned>((more ? 0x2000 : 0) | (offset / 8)));
  p[8] = 64;
  p[9] = 17;
  auto s = sipvs::IpAddress::parse(src), d = sipvs::IpAddress::parse(dst);
  std::memcpy(&p[12], s->bytes.data(), 4);
  std::memcpy(&p[16], d->bytes.data(), 4);
  append(p, l4);
  return p;
}

// An IPv6 packet, or a fragment (with a fragment header) when `fragment`.
Bytes ipv6(const char* src, const char* dst, const Bytes& l4, bool fragment = false, std::size_t offset = 0,
           bool more = false, uint32_t id = 7) {
  Bytes p(40);
  p[0] = 0x60;
  p[6] = fragment ? 44 : 17;
  p[7] = 64;
  auto s = sipvs::IpAddress::parse(src), d = sipvs::IpAddress::parse(dst);
  std::memcpy(&p[8], s->bytes.data(), 16);
  std::memcpy(&p[24], d->bytes.data(), 16);
  if (fragment) {
    Bytes f(8);
    f[0] = 17;
    put16(f, 2, static_cast<unsigned>(offset | (more ? 1 : 0)));
    f[4] = static_cast<uint8_t>(id >> 24);
    f[7] = static_cast<uint8_t>(id);
    append(p, f);
  }
  append(p, l4);
  put16(p, 4, static_cast<unsigned>(p.size() - 40));
  return p;
}

Bytes frame(int linktype, const Bytes& ip) {
  const bool v6 = (ip[0] >> 4) == 6;
  Bytes f;
  switch (linktype) {
    case DLT_EN10MB:
      f.assign(14, 0);
      put16(f, 12, v6 ? 0x86dd : 0x0800);
      break;
    case DLT_LINUX_SLL:
      f.assign(16, 0);
      put16(f, 14, v6 ? 0x86dd : 0x0800);
      break;
    case DLT_LINUX_SLL2:
      f.assign(20, 0);
      put16(f, 0, v6 ? 0x86dd : 0x0800);
      break;
    default:
      break;
  }
  append(f, ip);
  return f;
}

struct Capture {
  std::string path;
  explicit Capture(int linktype, const std::vector<Bytes>& frames) {
    char name[] = "/tmp/sipvsd-replay-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
    pcap_t* dead = pcap_open_dead(linktype, 65535);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    REQUIRE(d != nullptr);
    long usec = 0;
    for (const Bytes& f : frames) {
      pcap_pkthdr h{};
      h.ts.tv_sec = 1000;
      h.ts.tv_usec = usec += 1000;
      h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
      pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
    }
    pcap_dump_close(d);
    pcap_close(dead);
  }
  ~Capture() { std::remove(path.c_str()); }
};

sipvs::EngineConfig config() {
  return sipvsd::parse_config(nlohmann::json::parse(R"({"services": [
    {"name": "sip4", "vip": "198.18.2.100", "port": 5060, "scheduler": "mh", "persistence_timeout": 300,
     "netmask": 0, "one_packet": true, "pe": "sip", "servers": [
       {"address": "198.18.1.1", "mark": 1}, {"address": "198.18.1.2", "mark": 2}, {"address": "198.18.1.3", "mark": 3}]},
    {"name": "sip6", "vip": "2001:2:0:2::100", "port": 5060, "scheduler": "mh", "persistence_timeout": 300,
     "pe": "sip", "servers": [{"address": "2001:2:0:1::1", "mark": 11}, {"address": "2001:2:0:1::2", "mark": 12}]}]})"))
      .engine;
}

struct Replayed {
  sipvsd::ReplaySummary summary;
  std::vector<std::string> lines;
};

Replayed replay(int linktype, const std::vector<Bytes>& ips) {
  std::vector<Bytes> frames;
  for (const Bytes& ip : ips) frames.push_back(frame(linktype, ip));
  Capture cap(linktype, frames);
  sipvs::Engine engine(config());
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  Replayed r;
  r.summary = sipvsd::replay_capture(engine, cap.path, out);
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  std::size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    r.lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return r;
}

std::string field(const std::string& line, const std::string& key) {
  const auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

TEST_CASE("replay: every link type, template new then hit on the same server") {
  for (int linktype : {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW}) {
    CAPTURE(linktype);
    const Replayed r =
        replay(linktype, {ipv4("198.18.0.1", "198.18.2.100", udp(5061, 5060, sip("INVITE", "call-a"))),
                          ipv4("198.18.2.100", "198.18.0.1", udp(5060, 5061, sip("SIP/2.0 200 OK", "call-a"))),
                          ipv4("198.18.0.1", "198.18.2.100", udp(5061, 5060, sip("ACK", "call-a")))});
    REQUIRE(r.lines.size() == 3);
    CHECK(r.summary.frames == 3);
    CHECK(r.summary.ip_packets == 3);
    CHECK(r.summary.placed == 2);
    CHECK(field(r.lines[0], "call-id") == "call-a");
    CHECK(field(r.lines[0], "template") == "new");
    CHECK(field(r.lines[0], "service") == "sip4");
    CHECK(r.lines[0].find("198.18.0.1:5061 -> 198.18.2.100:5060") != std::string::npos);
    CHECK(r.lines[0].find(" INVITE ") != std::string::npos);
    // The server's answer, from the VIP: a message out, which the daemon learns
    // from (replay cannot tell which server sent it).
    CHECK(field(r.lines[1], "outcome") == "outgoing");
    CHECK(field(r.lines[1], "service") == "sip4");
    CHECK(field(r.lines[2], "template") == "hit");
    CHECK(field(r.lines[2], "server") == field(r.lines[0], "server"));
    CHECK(field(r.lines[2], "mark") == field(r.lines[0], "mark"));
  }
}

TEST_CASE("replay: Call-IDs spread over the servers; no Call-ID falls back") {
  std::vector<Bytes> ips;
  for (int i = 0; i < 60; ++i)
    ips.push_back(ipv4("198.18.0.1", "198.18.2.100", udp(5061, 5060, sip("INVITE", "c" + std::to_string(i)))));
  const Bytes no_call_id{'I', 'N', 'V', 'I', 'T', 'E', ' ', 's', 'i', 'p', ':', 'x', ' ', 'S', 'I', 'P', '/',
                         '2', '.', '0', '\r', '\n', '\r', '\n'};
  ips.push_back(ipv4("198.18.0.1", "198.18.2.100", udp(5061, 5060, no_call_id)));
  const Replayed r = replay(DLT_EN10MB, ips);
  std::set<std::string> servers;
  for (int i = 0; i < 60; ++i) servers.insert(field(r.lines[static_cast<std::size_t>(i)], "server"));
  CHECK(servers.size() == 3);
  CHECK(field(r.lines.back(), "fallback") == "absent");
  CHECK_FALSE(field(r.lines.back(), "server").empty());
}

TEST_CASE("replay: IPv4 fragments are reassembled before the decision") {
  const Bytes whole = udp(5061, 5060, sip("INVITE", "big-call", 2500));
  const std::size_t cut = 1232;  // a multiple of 8
  const Bytes first(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
  const Bytes second(whole.begin() + static_cast<std::ptrdiff_t>(cut), whole.end());
  // Out of order, as can happen on the wire.
  const Replayed r = replay(DLT_LINUX_SLL2, {ipv4("198.18.0.1", "198.18.2.100", second, 9, cut, false),
                                             ipv4("198.18.0.1", "198.18.2.100", first, 9, 0, true)});
  REQUIRE(r.lines.size() == 2);
  CHECK(r.lines[0].find("fragment held") != std::string::npos);
  CHECK(field(r.lines[1], "reassembled") == std::to_string(20 + whole.size()));
  CHECK(field(r.lines[1], "call-id") == "big-call");
  CHECK(field(r.lines[1], "template") == "new");
  CHECK(r.summary.fragments == 1);
  CHECK(r.summary.reassembled == 1);
  CHECK(r.summary.placed == 1);
}

TEST_CASE("replay: IPv6 fragments are reassembled too") {
  const Bytes whole = udp(5061, 5060, sip("INVITE", "big6", 2000));
  const std::size_t cut = 1200;
  const Bytes first(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut));
  const Bytes second(whole.begin() + static_cast<std::ptrdiff_t>(cut), whole.end());
  const Replayed r = replay(DLT_EN10MB, {ipv6("2001:2::1", "2001:2:0:2::100", first, true, 0, true),
                                         ipv6("2001:2::1", "2001:2:0:2::100", second, true, cut, false)});
  REQUIRE(r.lines.size() == 2);
  CHECK(field(r.lines[1], "call-id") == "big6");
  CHECK(field(r.lines[1], "service") == "sip6");
  CHECK(field(r.lines[1], "reassembled") == std::to_string(40 + whole.size()));
  CHECK(r.lines[1].find("[2001:2::1]:5061 -> [2001:2:0:2::100]:5060") != std::string::npos);
}

TEST_CASE("replay: frames that are not IP are skipped; unreadable files are errors") {
  Bytes arp(42, 0);
  put16(arp, 12, 0x0806);
  Capture cap(DLT_EN10MB, {arp});
  sipvs::Engine engine(config());
  std::FILE* out = std::fopen("/dev/null", "w");
  const sipvsd::ReplaySummary s = sipvsd::replay_capture(engine, cap.path, out);
  CHECK(s.frames == 1);
  CHECK(s.skipped == 1);
  CHECK(s.ip_packets == 0);
  CHECK_THROWS_AS(sipvsd::replay_capture(engine, "/nonexistent.pcap", out), std::runtime_error);
  std::fclose(out);
}
