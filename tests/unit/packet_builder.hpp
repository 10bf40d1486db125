#pragma once
// Builds IPv4/IPv6 UDP packets as NFQUEUE hands them over, for the engine tests.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace test {

inline std::vector<uint8_t> udp_packet(std::string_view src, uint16_t sport, std::string_view dst, uint16_t dport,
                                       std::string_view payload) {
  const bool v6 = src.find(':') != std::string_view::npos;
  const std::size_t ip_len = v6 ? 40 : 20;
  std::vector<uint8_t> p(ip_len + 8 + payload.size());
  auto put16 = [&](std::size_t at, uint16_t v) { p[at] = v >> 8; p[at + 1] = v & 0xff; };
  const std::string s(src), d(dst);
  if (v6) {
    p[0] = 0x60;
    put16(4, static_cast<uint16_t>(8 + payload.size()));
    p[6] = 17;
    p[7] = 64;
    inet_pton(AF_INET6, s.c_str(), &p[8]);
    inet_pton(AF_INET6, d.c_str(), &p[24]);
  } else {
    p[0] = 0x45;
    put16(2, static_cast<uint16_t>(p.size()));
    p[8] = 64;
    p[9] = 17;
    inet_pton(AF_INET, s.c_str(), &p[12]);
    inet_pton(AF_INET, d.c_str(), &p[16]);
  }
  put16(ip_len, sport);
  put16(ip_len + 2, dport);
  put16(ip_len + 4, static_cast<uint16_t>(8 + payload.size()));
  std::memcpy(p.data() + ip_len + 8, payload.data(), payload.size());
  return p;
}

// A typical ~900-byte INVITE with an SDP body.
inline std::string invite(std::string_view call_id, std::string_view method = "INVITE") {
  const std::string sdp =
      "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.18.0.1\r\ns=-\r\nc=IN IP4 198.18.0.1\r\nt=0 0\r\n"
      "m=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
      "a=rtpmap:97 iLBC/8000\r\na=sendrecv\r\n";
  std::string m;
  m += std::string(method) + " sip:bob@198.18.2.100:5060 SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n";
  m += "Max-Forwards: 70\r\n";
  m += "To: Bob <sip:bob@198.18.2.100>\r\n";
  m += "From: Alice <sip:alice@198.18.0.1>;tag=1928301774\r\n";
  m += "Call-ID: " + std::string(call_id) + "\r\n";
  m += "CSeq: 314159 " + std::string(method) + "\r\n";
  m += "Contact: <sip:alice@198.18.0.1:5060>\r\n";
  m += "User-Agent: sipvsd-test/1.0\r\n";
  m += "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n";
  m += "Supported: replaces, timer\r\n";
  m += "P-Asserted-Identity: <sip:+15551234567@198.18.0.1>\r\n";
  m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n";
  return m + sdp;
}

}  // namespace test
