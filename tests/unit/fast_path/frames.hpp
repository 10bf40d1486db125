#pragma once
// Ethernet frames as the tc program sees them on ingress: Ethernet, then
// IPv4 or IPv6, then UDP and the payload; fields can be made inconsistent.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fp_test {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr std::size_t kEthHeader = 14;

struct UdpFrame {
  std::string src = "198.18.0.1";  // the family follows the addresses: IPv4 or IPv6
  std::string dst = "198.18.2.100";
  uint16_t sport = 5060;
  uint16_t dport = 5060;
  uint16_t ipv4_fragment = 0;  // IPv4 flags and fragment offset: 0x2000 is MF
  int udp_length_delta = 0;    // added to the UDP length field
  int ip_length_delta = 0;     // added to the IPv4 total length or the IPv6 payload length
};

inline void put16(Bytes& b, std::size_t at, std::size_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// An Ethernet header (made-up MACs) in front of `l3`.
// Sized first and copied into: GCC 12 at -O2 takes inserting into a
// 14-byte vector for a write past its end (-Warray-bounds, a false positive).
inline Bytes ethernet_frame(uint16_t ethertype, const Bytes& l3) {
  Bytes b(kEthHeader + l3.size());
  b[0] = 0x02;  // destination 02:00:00:00:00:02
  b[5] = 0x02;
  b[6] = 0x02;  // source 02:00:00:00:00:01
  b[11] = 0x01;
  put16(b, 12, ethertype);
  std::copy(l3.begin(), l3.end(), b.begin() + kEthHeader);
  return b;
}

inline Bytes udp_frame(std::string_view payload, const UdpFrame& f = {}) {
  const bool v6 = f.src.find(':') != std::string::npos;
  const std::size_t ip = v6 ? 40 : 20;
  Bytes p(ip + 8);
  if (v6) {
    p[0] = 0x60;
    put16(p, 4, 8 + payload.size() + f.ip_length_delta);
    p[6] = 17;
    p[7] = 64;
    inet_pton(AF_INET6, f.src.c_str(), &p[8]);
    inet_pton(AF_INET6, f.dst.c_str(), &p[24]);
  } else {
    p[0] = 0x45;
    put16(p, 2, ip + 8 + payload.size() + f.ip_length_delta);
    put16(p, 6, f.ipv4_fragment);
    p[8] = 64;
    p[9] = 17;
    inet_pton(AF_INET, f.src.c_str(), &p[12]);
    inet_pton(AF_INET, f.dst.c_str(), &p[16]);
  }
  put16(p, ip, f.sport);
  put16(p, ip + 2, f.dport);
  put16(p, ip + 4, 8 + payload.size() + f.udp_length_delta);
  p.insert(p.end(), payload.begin(), payload.end());
  return ethernet_frame(v6 ? kEthIpv6 : kEthIpv4, p);
}

}  // namespace fp_test
