#include "engine/parse/packet_view.hpp"

// Status rule used throughout: `truncated` means the buffer ends before the IP
// header, or before the length the IP header declares (a short capture).
// Once the IP datagram is known to be whole, anything inside it that does not
// fit its declared length (an extension header, the UDP header, the UDP length
// field) is `bad_header`: the sender's headers contradict each other.
//
// Checksums are deliberately not verified: NFQUEUE with GSO hands over
// packets whose checksums are still to be completed by the kernel.

namespace sipvs {
namespace {

constexpr uint8_t kProtoUdp = 17;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// `datagram` is the UDP header plus payload, bounded by the IP length.
PacketStatus parse_udp(std::span<const uint8_t> datagram, PacketView& out) {
  if (datagram.size() < kUdpHeader) return PacketStatus::bad_header;
  const uint8_t* u = datagram.data();
  const uint16_t length = be16(u + 4);
  if (length < kUdpHeader || length > datagram.size()) return PacketStatus::bad_header;
  out.sport = be16(u);
  out.dport = be16(u + 2);
  // Bytes beyond the UDP length (padding) are not part of the payload.
  out.payload = {reinterpret_cast<const char*>(u + kUdpHeader), length - kUdpHeader};
  return PacketStatus::ok;
}

PacketStatus parse_ipv4(std::span<const uint8_t> pkt, PacketView& out) {
  if (pkt.size() < kIpv4MinHeader) return PacketStatus::truncated;
  const uint8_t* p = pkt.data();
  const std::size_t header = std::size_t{p[0] & 0x0fu} * 4;
  if (header < kIpv4MinHeader) return PacketStatus::bad_header;
  if (pkt.size() < header) return PacketStatus::truncated;
  const std::size_t total = be16(p + 2);
  if (total < header) return PacketStatus::bad_header;
  if (total > pkt.size()) return PacketStatus::truncated;

  out.src = IpAddress::v4(p + 12);
  out.dst = IpAddress::v4(p + 16);
  out.protocol = p[9];
  // MF set or a non-zero offset: only the first fragment has the UDP header,
  // and none of them has the whole payload.
  const uint16_t frag = be16(p + 6);
  if ((frag & 0x2000) || (frag & 0x1fff)) return PacketStatus::fragment;
  if (out.protocol != kProtoUdp) return PacketStatus::not_udp;
  return parse_udp(pkt.subspan(header, total - header), out);
}

PacketStatus parse_ipv6(std::span<const uint8_t> pkt, PacketView& out) {
  if (pkt.size() < kIpv6Header) return PacketStatus::truncated;
  const uint8_t* p = pkt.data();
  const std::size_t end = kIpv6Header + be16(p + 4);
  if (end > pkt.size()) return PacketStatus::truncated;

  out.src = IpAddress::v6(p + 8);
  out.dst = IpAddress::v6(p + 24);
  uint8_t next = p[6];
  std::size_t off = kIpv6Header;
  // Every extension header is at least 8 bytes, so this loop ends.
  for (;;) {
    out.protocol = next;
    std::size_t length;
    switch (next) {
      case kProtoUdp:
        return parse_udp(pkt.subspan(off, end - off), out);
      case 0:   // Hop-by-Hop Options
      case 43:  // Routing
      case 60:  // Destination Options
        if (end - off < 2) return PacketStatus::bad_header;
        length = (std::size_t{p[off + 1]} + 1) * 8;
        break;
      case 51:  // Authentication Header: its length is in 4-octet units, minus 2
        if (end - off < 2) return PacketStatus::bad_header;
        length = (std::size_t{p[off + 1]} + 2) * 4;
        break;
      case 44: {  // Fragment
        if (end - off < 8) return PacketStatus::bad_header;
        // Offset (13 bits) and M (bit 0); both zero is an atomic fragment
        // (RFC 6946), a whole packet that goes on to its next header.
        if ((be16(p + off + 2) & 0xfff9) != 0) {
          out.protocol = p[off];
          return PacketStatus::fragment;
        }
        length = 8;
        break;
      }
      default:  // ESP, No Next Header, or any other upper layer
        return PacketStatus::not_udp;
    }
    if (length > end - off) return PacketStatus::bad_header;
    next = p[off];
    off += length;
  }
}

}  // namespace

PacketStatus parse_packet(std::span<const uint8_t> packet, PacketView& out) {
  out = PacketView{};
  if (packet.empty()) return PacketStatus::truncated;
  switch (packet[0] >> 4) {
    case 4: return parse_ipv4(packet, out);
    case 6: return parse_ipv6(packet, out);
    default: return PacketStatus::bad_header;
  }
}

std::string_view to_string(PacketStatus s) {
  switch (s) {
    case PacketStatus::ok: return "ok";
    case PacketStatus::truncated: return "truncated";
    case PacketStatus::bad_header: return "bad_header";
    case PacketStatus::fragment: return "fragment";
    case PacketStatus::not_udp: return "not_udp";
  }
  return "unknown";
}

}  // namespace sipvs
