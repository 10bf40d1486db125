#pragma once
// A read-only view of one IP packet as NFQUEUE hands it over (starting at the
// IP header): addresses, UDP ports and payload, all pointing into the buffer.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/ip_address.hpp"

namespace sipvs {

enum class PacketStatus : uint8_t {
  ok,             // IPv4/IPv6 + UDP, payload available
  truncated,      // the buffer ends before a header (or the UDP datagram) does
  bad_header,     // inconsistent: bad version, IHL < 5, total length < header, UDP length < 8...
  fragment,       // an IP fragment: addresses are set, ports and payload are not
  not_udp,        // a whole packet of another protocol: addresses and protocol are set
  last = not_udp,  // counters indexed by status are sized from it
};
inline constexpr std::size_t kPacketStatusCount = static_cast<std::size_t>(PacketStatus::last) + 1;

std::string_view to_string(PacketStatus s);

struct PacketView {
  IpAddress src;
  IpAddress dst;
  uint8_t protocol = 0;  // the upper-layer protocol (17 for UDP)
  uint16_t sport = 0;    // host byte order
  uint16_t dport = 0;
  std::string_view payload;  // the UDP payload, bounded by the UDP length field
};

// Never reads outside `packet`. Fills `out` as far as the status says.
PacketStatus parse_packet(std::span<const uint8_t> packet, PacketView& out);

}  // namespace sipvs
