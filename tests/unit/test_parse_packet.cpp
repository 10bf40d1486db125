// parse_packet: IPv4/IPv6 + UDP framing, fragments, and every way a buffer can
// be short or inconsistent.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "engine/parse/packet_view.hpp"

using namespace sipvs;

namespace {

using test::append;
using test::Bytes;
using test::put16;

Bytes udp(uint16_t sport, uint16_t dport, std::string_view payload) {
  Bytes b(8);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, static_cast<uint16_t>(8 + payload.size()));
  append(b, payload);
  return b;
}

// An IPv4 header (with `options`, a multiple of 4 bytes) in front of `l4`.
Bytes ipv4(const Bytes& l4, uint8_t protocol = 17, const Bytes& options = {}, uint16_t frag = 0) {
  Bytes b(20);
  b[0] = static_cast<uint8_t>(0x40 | (20 + options.size()) / 4);
  put16(b, 2, static_cast<uint16_t>(20 + options.size() + l4.size()));
  put16(b, 6, frag);
  b[8] = 64;
  b[9] = protocol;
  const uint8_t src[] = {192, 0, 2, 1}, dst[] = {198, 51, 100, 7};
  std::copy(src, src + 4, b.begin() + 12);
  std::copy(dst, dst + 4, b.begin() + 16);
  append(b, options);
  append(b, l4);
  return b;
}

// An IPv6 header; `ext` is the extension header chain already encoded, and
// `next` the Next Header value of the fixed header.
Bytes ipv6(const Bytes& ext_and_l4, uint8_t next) {
  Bytes b(40);
  b[0] = 0x60;
  put16(b, 4, static_cast<uint16_t>(ext_and_l4.size()));
  b[6] = next;
  b[7] = 64;
  for (int i = 0; i < 16; ++i) {
    b[8 + i] = static_cast<uint8_t>(0x20 + i);   // 2021:2223:...
    b[24 + i] = static_cast<uint8_t>(0x40 + i);  // 4041:4243:...
  }
  append(b, ext_and_l4);
  return b;
}

// An extension header of 8*(units+1) bytes (Hop-by-Hop, Routing, Dest Opts).
Bytes ext(uint8_t next, uint8_t units) {
  Bytes b(8 * (units + 1), 0);
  b[0] = next;
  b[1] = units;
  return b;
}

Bytes fragment_header(uint8_t next, uint16_t offset_units, bool more) {
  Bytes b(8, 0);
  b[0] = next;
  put16(b, 2, static_cast<uint16_t>(offset_units << 3 | (more ? 1 : 0)));
  b[4] = 0xde;  // identification
  return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) append(out, p);
  return out;
}

PacketStatus parse(const Bytes& b, PacketView& v) { return parse_packet({b.data(), b.size()}, v); }

const std::string kSip = "OPTIONS sip:a@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n";

}  // namespace

TEST_CASE("IPv4 UDP without options") {
  PacketView v;
  const Bytes p = ipv4(udp(5060, 5080, kSip));
  REQUIRE(parse(p, v) == PacketStatus::ok);
  CHECK(v.src.to_string() == "192.0.2.1");
  CHECK(v.dst.to_string() == "198.51.100.7");
  CHECK(v.protocol == 17);
  CHECK(v.sport == 5060);
  CHECK(v.dport == 5080);
  CHECK(v.payload == kSip);
  CHECK(v.payload.data() == reinterpret_cast<const char*>(p.data() + 28));
}

TEST_CASE("IPv4 with options honours IHL") {
  PacketView v;
  const Bytes options = {0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00};  // Router Alert, NOPs, EOL
  const Bytes p = ipv4(udp(1234, 5060, "hello"), 17, options);
  REQUIRE(p[0] == 0x47);
  REQUIRE(parse(p, v) == PacketStatus::ok);
  CHECK(v.sport == 1234);
  CHECK(v.dport == 5060);
  CHECK(v.payload == "hello");
}

TEST_CASE("IPv4 trailing padding beyond total length and UDP length is ignored") {
  PacketView v;
  Bytes p = ipv4(udp(1, 2, "abc"));
  p.insert(p.end(), {0, 0, 0, 0, 0, 0});  // Ethernet minimum-frame padding
  REQUIRE(parse(p, v) == PacketStatus::ok);
  CHECK(v.payload == "abc");

  // UDP length shorter than the IP payload: the payload follows the UDP length.
  Bytes q = ipv4(udp(1, 2, "abcdef"));
  put16(q, 24, 8 + 2);
  REQUIRE(parse(q, v) == PacketStatus::ok);
  CHECK(v.payload == "ab");
}

TEST_CASE("IPv4 empty UDP payload is ok") {
  PacketView v;
  REQUIRE(parse(ipv4(udp(7, 9, "")), v) == PacketStatus::ok);
  CHECK(v.payload.empty());
  CHECK(v.dport == 9);
}

TEST_CASE("IPv4 bad headers") {
  PacketView v;
  const Bytes good = ipv4(udp(1, 2, "payload"));
  SUBCASE("IHL below 5") {
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
      Bytes p = good;
      p[0] = static_cast<uint8_t>(0x40 | ihl);
      CHECK(parse(p, v) == PacketStatus::bad_header);
    }
  }
  SUBCASE("IHL beyond the buffer") {
    Bytes p = ipv4(udp(1, 2, ""));  // 28 bytes
    p[0] = 0x48;                    // 32-byte header
    CHECK(parse(p, v) == PacketStatus::truncated);
  }
  SUBCASE("total length shorter than the header") {
    Bytes p = good;
    put16(p, 2, 19);
    CHECK(parse(p, v) == PacketStatus::bad_header);
  }
  SUBCASE("total length beyond the buffer") {
    Bytes p = good;
    put16(p, 2, static_cast<uint16_t>(p.size() + 1));
    CHECK(parse(p, v) == PacketStatus::truncated);
  }
  SUBCASE("bad version") {
    for (uint8_t version : {0, 5, 7, 15}) {
      Bytes p = good;
      p[0] = static_cast<uint8_t>(version << 4 | 5);
      CHECK(parse(p, v) == PacketStatus::bad_header);
    }
  }
  SUBCASE("empty buffer") {
    CHECK(parse_packet({}, v) == PacketStatus::truncated);
  }
}

TEST_CASE("UDP length inconsistent with the IP length is bad_header") {
  PacketView v;
  Bytes p = ipv4(udp(1, 2, "0123456789"));
  SUBCASE("UDP length below 8") {
    for (uint16_t len : {0, 1, 7}) {
      put16(p, 24, len);
      CHECK(parse(p, v) == PacketStatus::bad_header);
    }
  }
  SUBCASE("UDP length beyond the IP payload") {
    put16(p, 24, 8 + 11);
    CHECK(parse(p, v) == PacketStatus::bad_header);
  }
  SUBCASE("IP payload too short for a UDP header") {
    Bytes q = ipv4(Bytes{0, 1, 0, 2, 0, 8});
    CHECK(parse(q, v) == PacketStatus::bad_header);
  }
  SUBCASE("exactly the IP payload is fine") {
    put16(p, 24, 8 + 10);
    CHECK(parse(p, v) == PacketStatus::ok);
    CHECK(v.payload == "0123456789");
  }
}

TEST_CASE("IPv4 not UDP") {
  PacketView v;
  REQUIRE(parse(ipv4(Bytes(20, 0), 6), v) == PacketStatus::not_udp);
  CHECK(v.protocol == 6);
  CHECK(v.src.to_string() == "192.0.2.1");
  CHECK(v.dst.to_string() == "198.51.100.7");
  CHECK(v.payload.empty());
}

TEST_CASE("IPv4 fragments") {
  PacketView v;
  SUBCASE("first fragment: MF set, offset 0") {
    REQUIRE(parse(ipv4(udp(1, 2, "abc"), 17, {}, 0x2000), v) == PacketStatus::fragment);
  }
  SUBCASE("last fragment: MF clear, offset non-zero") {
    REQUIRE(parse(ipv4(Bytes(16, 'x'), 17, {}, 185), v) == PacketStatus::fragment);
  }
  SUBCASE("middle fragment") {
    REQUIRE(parse(ipv4(Bytes(16, 'x'), 17, {}, 0x2000 | 1), v) == PacketStatus::fragment);
  }
  CHECK(v.protocol == 17);
  CHECK(v.src.to_string() == "192.0.2.1");
  CHECK(v.dst.to_string() == "198.51.100.7");
  CHECK(v.sport == 0);
  CHECK(v.dport == 0);
  CHECK(v.payload.empty());
}

TEST_CASE("IPv4 DF alone is not a fragment") {
  PacketView v;
  CHECK(parse(ipv4(udp(1, 2, "abc"), 17, {}, 0x4000), v) == PacketStatus::ok);
}

TEST_CASE("IPv6 UDP without extension headers") {
  PacketView v;
  const Bytes p = ipv6(udp(5060, 5062, kSip), 17);
  REQUIRE(parse(p, v) == PacketStatus::ok);
  CHECK(v.src.to_string() == "2021:2223:2425:2627:2829:2a2b:2c2d:2e2f");
  CHECK(v.dst.to_string() == "4041:4243:4445:4647:4849:4a4b:4c4d:4e4f");
  CHECK(v.protocol == 17);
  CHECK(v.sport == 5060);
  CHECK(v.dport == 5062);
  CHECK(v.payload == kSip);
}

TEST_CASE("IPv6 walks Hop-by-Hop, Routing, Destination Options, AH and an atomic fragment") {
  PacketView v;
  Bytes ah(16, 0);  // AH length field 2: (2 + 2) * 4 = 16 bytes
  ah[0] = 17;
  ah[1] = 2;
  // Hop-by-Hop -> Routing (16 bytes) -> Destination Options -> Fragment -> AH -> UDP
  const Bytes chain = cat({ext(43, 0), ext(60, 1), ext(44, 0), fragment_header(51, 0, false), ah});
  const Bytes p = ipv6(cat({chain, udp(5060, 5061, "sip!")}), 0);
  REQUIRE(parse(p, v) == PacketStatus::ok);
  CHECK(v.protocol == 17);
  CHECK(v.sport == 5060);
  CHECK(v.dport == 5061);
  CHECK(v.payload == "sip!");
  CHECK(v.payload.data() == reinterpret_cast<const char*>(p.data() + 40 + chain.size() + 8));
}

TEST_CASE("IPv6 extension header bounds") {
  PacketView v;
  SUBCASE("extension header longer than the payload length") {
    Bytes p = ipv6(cat({ext(17, 0), udp(1, 2, "")}), 0);
    p[41] = 2;  // claims 24 bytes; only 16 follow
    CHECK(parse(p, v) == PacketStatus::bad_header);
  }
  SUBCASE("extension header cut by the payload length") {
    CHECK(parse(ipv6(Bytes{17}, 60), v) == PacketStatus::bad_header);
  }
  SUBCASE("fragment header cut") {
    CHECK(parse(ipv6(Bytes{17, 0, 0, 0}, 44), v) == PacketStatus::bad_header);
  }
  SUBCASE("payload length beyond the buffer") {
    Bytes p = ipv6(udp(1, 2, "abc"), 17);
    put16(p, 4, static_cast<uint16_t>(p.size() - 40 + 1));
    CHECK(parse(p, v) == PacketStatus::truncated);
  }
  SUBCASE("UDP length beyond the payload length") {
    Bytes p = ipv6(udp(1, 2, "abc"), 17);
    put16(p, 44, 12);
    CHECK(parse(p, v) == PacketStatus::bad_header);
  }
  SUBCASE("jumbogram (payload length 0) is not supported") {
    Bytes p = ipv6(cat({ext(17, 0), udp(1, 2, "abc")}), 0);
    put16(p, 4, 0);
    CHECK(parse(p, v) == PacketStatus::bad_header);
  }
}

TEST_CASE("IPv6 fragments") {
  PacketView v;
  SUBCASE("first fragment") {
    REQUIRE(parse(ipv6(cat({fragment_header(17, 0, true), udp(1, 2, "abc")}), 44), v) == PacketStatus::fragment);
  }
  SUBCASE("last fragment") {
    REQUIRE(parse(ipv6(cat({fragment_header(17, 100, false), Bytes(8, 'x')}), 44), v) == PacketStatus::fragment);
  }
  SUBCASE("fragment after a Destination Options header") {
    REQUIRE(parse(ipv6(cat({ext(44, 0), fragment_header(17, 3, true), Bytes(8, 'x')}), 60), v) ==
            PacketStatus::fragment);
  }
  CHECK(v.protocol == 17);
  CHECK(v.src.to_string() == "2021:2223:2425:2627:2829:2a2b:2c2d:2e2f");
  CHECK(v.dst.to_string() == "4041:4243:4445:4647:4849:4a4b:4c4d:4e4f");
  CHECK(v.sport == 0);
  CHECK(v.payload.empty());
}

TEST_CASE("IPv6 not UDP") {
  PacketView v;
  SUBCASE("TCP") {
    REQUIRE(parse(ipv6(Bytes(20, 0), 6), v) == PacketStatus::not_udp);
    CHECK(v.protocol == 6);
  }
  SUBCASE("ESP after Hop-by-Hop") {
    REQUIRE(parse(ipv6(cat({ext(50, 0), Bytes(16, 0)}), 0), v) == PacketStatus::not_udp);
    CHECK(v.protocol == 50);
  }
  SUBCASE("No Next Header") {
    REQUIRE(parse(ipv6({}, 59), v) == PacketStatus::not_udp);
    CHECK(v.protocol == 59);
  }
  CHECK(v.src.to_string() == "2021:2223:2425:2627:2829:2a2b:2c2d:2e2f");
}

TEST_CASE("IPv6 bad version and short header") {
  PacketView v;
  Bytes p = ipv6(udp(1, 2, "x"), 17);
  CHECK(parse(Bytes(p.begin(), p.begin() + 39), v) == PacketStatus::truncated);
  p[0] = 0x50;
  CHECK(parse(p, v) == PacketStatus::bad_header);
}

TEST_CASE("every prefix of a valid packet is truncated, never ok") {
  const Bytes options = {1, 1, 1, 0};
  const std::vector<Bytes> packets = {
      ipv4(udp(5060, 5060, kSip)),
      ipv4(udp(5060, 5060, kSip), 17, options),
      ipv6(udp(5060, 5060, kSip), 17),
      ipv6(cat({ext(60, 0), ext(44, 1), fragment_header(17, 0, false), udp(5060, 5060, kSip)}), 0),
  };
  for (const Bytes& full : packets) {
    PacketView v;
    REQUIRE(parse(full, v) == PacketStatus::ok);
    for (std::size_t n = 0; n < full.size(); ++n) {
      // An exact-size heap copy, so ASan sees any read past the prefix.
      const std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      CAPTURE(n);
      CHECK(parse(prefix, v) == PacketStatus::truncated);
    }
  }
}

TEST_CASE("to_string(PacketStatus)") {
  CHECK(to_string(PacketStatus::ok) == "ok");
  CHECK(to_string(PacketStatus::truncated) == "truncated");
  CHECK(to_string(PacketStatus::bad_header) == "bad_header");
  CHECK(to_string(PacketStatus::fragment) == "fragment");
  CHECK(to_string(PacketStatus::not_udp) == "not_udp");
}
