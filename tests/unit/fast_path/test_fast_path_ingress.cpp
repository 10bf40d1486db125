// sipvsd_ingress through BPF_PROG_TEST_RUN: a service and its templates in
// the maps, frames in, skb->mark and the counters out.
#include <doctest/doctest.h>
#include <linux/pkt_cls.h>

#include <string>

#include "fast_path_fixture.hpp"

using namespace fp_test;

// Counters in a failed check's message.
template <>
struct doctest::StringMaker<Counters> {
  static doctest::String convert(const Counters& c) {
    static const char* const kNames[] = {"hit", "miss", "stale", "no_call_id", "fragment", "unusual"};
    std::string s = "{";
    for (std::size_t i = 0; i < c.size(); ++i)
      if (c[i]) s += std::string(s.size() > 1 ? " " : "") + kNames[i] + "=" + std::to_string(c[i]);
    return (s + "}").c_str();
  }
};

namespace {

constexpr uint32_t kMarkMask = 0x0000ff00;
constexpr uint32_t kServerMark = 0x00000500;  // the template's server, under the mask
constexpr uint32_t kTimeout = 300;
constexpr uint64_t kNsPerS = 1'000'000'000;

std::string invite(const std::string& call_id) {
  return "INVITE sip:bob@198.18.2.100 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK776asdhds\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "\r\n";
}

sipvsd_fp_target target(uint64_t last_used_ns) {
  sipvsd_fp_target t{};
  t.mark = kServerMark;
  t.timeout_s = kTimeout;
  t.last_used_ns = last_used_ns;
  return t;
}

// Counters after minus before.
Counters moved(const Counters& before, const Counters& after) {
  Counters d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = after[i] - before[i];
  return d;
}

Counters only(sipvsd_fp_counter counter) {
  Counters c{};
  c[counter] = 1;
  return c;
}

// An IPv4 service (198.18.2.100:5060, clients kept per /24) and an IPv6 one
// ([2001:db8:0:2::100]:5060, per /64), each with one template.
struct Services {
  FastPath fast_path;
  const sipvsd_fp_service_key v4 = service_key("198.18.2.100", 5060);
  const sipvsd_fp_service_key v6 = service_key("2001:db8:0:2::100", 5060);
  const sipvsd_fp_key v4_template = template_key(v4, "198.18.0.0", "call-1@198.18.0.1");
  const sipvsd_fp_key v6_template = template_key(v6, "2001:db8::", "call-6@2001:db8::1");
  const uint64_t created = monotonic_ns();

  Services() {
    fast_path.add_service(v4, service("255.255.255.0", kMarkMask));
    fast_path.add_service(v6, service("ffff:ffff:ffff:ffff::", kMarkMask));
    fast_path.add_template(v4_template, target(created));
    fast_path.add_template(v6_template, target(created));
  }

  // The frame's outcome: the mark it leaves with, and which counters moved.
  struct Run {
    uint32_t mark;
    Counters counted;
  };
  Run run(const Bytes& frame, uint32_t mark = 0, uint32_t gso_segs = 0) {
    const Counters before = fast_path.counters();
    const IngressOutcome out = fast_path.ingress(frame, mark, gso_segs);
    CHECK(out.verdict == TC_ACT_OK);  // never drops
    return {out.mark, moved(before, fast_path.counters())};
  }
};

}  // namespace

TEST_CASE("a hit marks the packet under the mask and uses the template") {
  Services s;
  const Services::Run r = s.run(udp_frame(invite("call-1@198.18.0.1")), 0xab0000cd);
  CHECK(r.mark == 0xab0005cd);  // the bits outside the mask are kept
  CHECK(r.counted == only(SIPVSD_FP_HIT));
  const auto t = s.fast_path.find_template(s.v4_template);
  REQUIRE(t);
  CHECK(t->last_used_ns > s.created);
  CHECK(t->last_used_ns <= monotonic_ns());

  // Bits under the mask that the packet already had are replaced.
  CHECK(s.run(udp_frame(invite("call-1@198.18.0.1")), 0x0000ff00).mark == kServerMark);
}

TEST_CASE("the client mask: another client of the same /24 hits, one outside misses") {
  Services s;
  const Services::Run same_net = s.run(udp_frame(invite("call-1@198.18.0.1"), {.src = "198.18.0.77"}));
  CHECK(same_net.mark == kServerMark);
  CHECK(same_net.counted == only(SIPVSD_FP_HIT));
  const Services::Run other_net = s.run(udp_frame(invite("call-1@198.18.0.1"), {.src = "198.18.1.1"}));
  CHECK(other_net.mark == 0);
  CHECK(other_net.counted == only(SIPVSD_FP_MISS));
}

TEST_CASE("a miss leaves the mark alone") {
  Services s;
  const Services::Run r = s.run(udp_frame(invite("unknown@198.18.0.1")), 0x12345678);
  CHECK(r.mark == 0x12345678);
  CHECK(r.counted == only(SIPVSD_FP_MISS));
}

TEST_CASE("a template past its timeout is stale: no mark, not refreshed") {
  Services s;
  // A one-second timeout: CLOCK_MONOTONIC may be only seconds old (a fresh VM).
  REQUIRE(s.created > 2 * kNsPerS);
  sipvsd_fp_target expired = target(s.created - 3 * kNsPerS / 2);
  expired.timeout_s = 1;
  s.fast_path.add_template(s.v4_template, expired);
  const Services::Run r = s.run(udp_frame(invite("call-1@198.18.0.1")), 7);
  CHECK(r.mark == 7);
  CHECK(r.counted == only(SIPVSD_FP_STALE));
  const auto t = s.fast_path.find_template(s.v4_template);
  REQUIRE(t);
  CHECK(t->last_used_ns == expired.last_used_ns);

  // Within its timeout it is alive; so is a last use a moment ahead of the program's clock.
  s.fast_path.add_template(s.v4_template, target(s.created - kNsPerS));
  CHECK(s.run(udp_frame(invite("call-1@198.18.0.1"))).counted == only(SIPVSD_FP_HIT));
  s.fast_path.add_template(s.v4_template, target(monotonic_ns() + 10 * kNsPerS));
  CHECK(s.run(udp_frame(invite("call-1@198.18.0.1"))).counted == only(SIPVSD_FP_HIT));
}

TEST_CASE("IPv6: a hit, the /64 client mask, a miss") {
  Services s;
  const UdpFrame v6{.src = "2001:db8::1", .dst = "2001:db8:0:2::100"};
  const Services::Run hit = s.run(udp_frame(invite("call-6@2001:db8::1"), v6), 0x10000000);
  CHECK(hit.mark == (0x10000000 | kServerMark));
  CHECK(hit.counted == only(SIPVSD_FP_HIT));
  UdpFrame same_net = v6;
  same_net.src = "2001:db8::abcd:1";
  CHECK(s.run(udp_frame(invite("call-6@2001:db8::1"), same_net)).counted == only(SIPVSD_FP_HIT));
  UdpFrame other_net = v6;
  other_net.src = "2001:db8:0:1::1";
  CHECK(s.run(udp_frame(invite("call-6@2001:db8::1"), other_net)).counted == only(SIPVSD_FP_MISS));
  // The IPv4 template's Call-ID does not hit the IPv6 service.
  CHECK(s.run(udp_frame(invite("call-1@198.18.0.1"), v6)).counted == only(SIPVSD_FP_MISS));
}

TEST_CASE("traffic to no service of the fast path is untouched and not counted") {
  Services s;
  const Counters none{};
  const std::string m = invite("call-1@198.18.0.1");
  for (const UdpFrame& f : {UdpFrame{.dport = 5061}, UdpFrame{.dst = "198.18.2.101"}, UdpFrame{.sport = 1, .dport = 1},
                            UdpFrame{.src = "2001:db8::1", .dst = "2001:db8:0:2::101"},
                            UdpFrame{.dst = "198.18.2.101", .ipv4_fragment = 0x2000},
                            UdpFrame{.ipv4_fragment = 0x0001}}) {  // not a first fragment: no ports
    CAPTURE(f.dst);
    CAPTURE(f.dport);
    const Services::Run r = s.run(udp_frame(m, f), 0x42);
    CHECK(r.mark == 0x42);
    CHECK(r.counted == none);
  }
  CHECK(s.run(ethernet_frame(0x0806, Bytes(28, 0))).counted == none);  // ARP
  Bytes tcp = udp_frame(m);
  tcp[kEthHeader + 9] = 6;
  CHECK(s.run(tcp).counted == none);
  Bytes cut = udp_frame(m);
  cut.resize(kEthHeader + 20 + 4);  // in the UDP header
  CHECK(s.run(cut).counted == none);
}

TEST_CASE("what the fast path leaves to NFQUEUE is counted") {
  Services s;
  const std::string m = invite("call-1@198.18.0.1");
  SUBCASE("a first fragment") {
    CHECK(s.run(udp_frame(m, {.ipv4_fragment = 0x2000})).counted == only(SIPVSD_FP_FRAGMENT));
  }
  SUBCASE("no Call-ID, not SIP, conflicting Call-IDs") {
    CHECK(s.run(udp_frame("OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")).counted == only(SIPVSD_FP_NO_CALL_ID));
    CHECK(s.run(udp_frame("GET / HTTP/1.1\r\n\r\n")).counted == only(SIPVSD_FP_NO_CALL_ID));
    CHECK(s.run(udp_frame("")).counted == only(SIPVSD_FP_NO_CALL_ID));
    CHECK(s.run(udp_frame("BYE sip:x SIP/2.0\r\ni: call-1@198.18.0.1\r\ni: other\r\n\r\n")).counted ==
          only(SIPVSD_FP_NO_CALL_ID));
  }
  SUBCASE("GSO, bad lengths, oversize") {
    CHECK(s.run(udp_frame(m), 0, 2).counted == only(SIPVSD_FP_UNUSUAL));
    CHECK(s.run(udp_frame(m, {.udp_length_delta = 1})).counted == only(SIPVSD_FP_UNUSUAL));
    CHECK(s.run(udp_frame(m, {.udp_length_delta = -static_cast<int>(m.size()) - 1})).counted ==
          only(SIPVSD_FP_UNUSUAL));
    CHECK(s.run(udp_frame(m, {.ip_length_delta = 1})).counted == only(SIPVSD_FP_UNUSUAL));
    CHECK(s.run(udp_frame(m, {.src = "2001:db8::1", .dst = "2001:db8:0:2::100", .ip_length_delta = 1})).counted ==
          only(SIPVSD_FP_UNUSUAL));
    const std::string big = m + std::string(SIPVSD_FP_MAX_PAYLOAD + 1 - m.size(), 'b');
    CHECK(s.run(udp_frame(big)).counted == only(SIPVSD_FP_UNUSUAL));
  }
  SUBCASE("a payload at the cap is still read") {
    const std::string at_cap = m + std::string(SIPVSD_FP_MAX_PAYLOAD - m.size(), 'b');
    CHECK(s.run(udp_frame(at_cap)).counted == only(SIPVSD_FP_HIT));
  }
}

TEST_CASE("a Call-ID written with folding and odd spacing keys the same template") {
  Services s;
  const std::string m =
      "INVITE sip:bob@198.18.2.100 SIP/2.0\r\n"
      "cALL-iD \t:  call-1@198.18.0.1 \t\r\n"
      "I: call-1@198.18.0.1\r\n"
      "\r\n";
  CHECK(s.run(udp_frame(m)).counted == only(SIPVSD_FP_HIT));
  // Trailing whitespace written then trimmed must not reach the key.
  const std::string folded_key = "a b";
  s.fast_path.add_template(template_key(s.v4, "198.18.0.0", folded_key), target(monotonic_ns()));
  CHECK(s.run(udp_frame("SIP/2.0 200 OK\r\nCall-ID: a   \r\n  b  \t \r\n\r\n")).counted == only(SIPVSD_FP_HIT));
  CHECK(s.run(udp_frame("SIP/2.0 200 OK\r\nCall-ID: a b \t\t   \r\n\r\n")).counted == only(SIPVSD_FP_HIT));
}

namespace {

std::string call_id_of_length(std::size_t n) {
  const std::string host = "@198.18.0.1";
  return n > host.size() ? std::string(n - host.size(), 'c') + host : std::string(n, 'c');
}

}  // namespace

TEST_CASE("a Call-ID of any length hits its template, in the map its length picks") {
  Services s;
  for (const std::size_t n :
       {std::size_t{1}, std::size_t{30}, std::size_t{SIPVSD_FP_SHORT_CALL_ID}, std::size_t{SIPVSD_FP_SHORT_CALL_ID + 1},
        std::size_t{200}, std::size_t{SIPVSD_FP_MAX_CALL_ID}}) {
    CAPTURE(n);
    const std::string call_id = call_id_of_length(n);
    s.fast_path.add_template(template_key(s.v4, "198.18.0.0", call_id), target(monotonic_ns()));
    CHECK(s.run(udp_frame(invite(call_id))).counted == only(SIPVSD_FP_HIT));
  }
  // The program looks for a Call-ID of SIPVSD_FP_SHORT_CALL_ID bytes in the
  // short map alone, and for one a byte longer in the long map.
  const std::string longest_short = "s" + call_id_of_length(SIPVSD_FP_SHORT_CALL_ID - 1);
  const std::string shortest_long = "l" + call_id_of_length(SIPVSD_FP_SHORT_CALL_ID);
  s.fast_path.add_template_one_map(template_key(s.v4, "198.18.0.0", longest_short), target(monotonic_ns()));
  CHECK(s.run(udp_frame(invite(longest_short))).counted == only(SIPVSD_FP_MISS));
  s.fast_path.add_template_one_map(template_key(s.v4, "198.18.0.0", shortest_long), target(monotonic_ns()));
  CHECK(s.run(udp_frame(invite(shortest_long))).counted == only(SIPVSD_FP_HIT));
}

TEST_CASE("the short Call-IDs' templates a sipvsd with one map left are moved to the short map") {
  Services s;
  const sipvsd_fp_key short_one = template_key(s.v4, "198.18.0.0", "left@198.18.0.1");
  const sipvsd_fp_key long_one = template_key(s.v4, "198.18.0.0", call_id_of_length(100));
  sipvsd_fp_target left = target(monotonic_ns());
  left.mark = 0x00000700;
  s.fast_path.add_template_one_map(short_one, left);
  s.fast_path.add_template_one_map(long_one, left);
  CHECK(s.run(udp_frame(invite("left@198.18.0.1"))).counted == only(SIPVSD_FP_MISS));

  CHECK(s.fast_path.templates().move_short_copies() == 1);
  const Services::Run moved_one = s.run(udp_frame(invite("left@198.18.0.1")));
  CHECK(moved_one.counted == only(SIPVSD_FP_HIT));
  CHECK(moved_one.mark == 0x00000700);
  CHECK(s.run(udp_frame(invite(call_id_of_length(100)))).counted == only(SIPVSD_FP_HIT));
  // The long map keeps no copy of it: a second move finds none.
  CHECK(s.fast_path.templates().move_short_copies() == 0);
}
