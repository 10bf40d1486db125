// The NFQUEUE worker's parts that need no kernel.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "daemon/datapath/nfqueue.hpp"

namespace {

// The head of a packet message as the kernel builds it (nfnetlink_queue.c):
// header, nfgenmsg, then attributes; nlmsg_len says how long the whole was.
struct MessageHead {
  std::vector<char> bytes;
  explicit MessageHead(uint16_t type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) {
    bytes.resize(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)));
    auto* h = reinterpret_cast<nlmsghdr*>(bytes.data());
    h->nlmsg_len = 70000;  // more than a receive slot: the message came truncated
    h->nlmsg_type = type;
  }
  void attr(uint16_t type, const void* data, uint16_t len) {
    const std::size_t at = bytes.size();
    bytes.resize(at + NLA_ALIGN(NLA_HDRLEN + len));
    nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
    std::memcpy(bytes.data() + at, &a, sizeof a);
    std::memcpy(bytes.data() + at + NLA_HDRLEN, data, len);
  }
  void packet_hdr(uint32_t id) {
    nfqnl_msg_packet_hdr ph{};
    ph.packet_id = htonl(id);
    ph.hw_protocol = htons(0x0800);
    attr(NFQA_PACKET_HDR, &ph, sizeof ph);
  }
};

}  // namespace

TEST_CASE("a truncated packet message still gives its packet id, to be answered") {
  MessageHead m;
  m.packet_hdr(4242);
  const uint32_t mark = htonl(7);
  m.attr(NFQA_MARK, &mark, sizeof mark);
  m.bytes.resize(m.bytes.size() + 100, 'x');  // the start of the payload attribute
  const auto id = sipvsd::truncated_packet_id(m.bytes.data(), m.bytes.size());
  REQUIRE(id);
  CHECK(*id == 4242);
}

TEST_CASE("a truncated packet message: the packet header found after other attributes") {
  MessageHead m;
  const uint32_t mark = htonl(7);
  m.attr(NFQA_MARK, &mark, sizeof mark);
  m.packet_hdr(99);
  const auto id = sipvsd::truncated_packet_id(m.bytes.data(), m.bytes.size());
  REQUIRE(id);
  CHECK(*id == 99);
}

TEST_CASE("a truncated message without a whole packet header, or not a packet, gives no id") {
  MessageHead m;
  m.packet_hdr(5);
  CHECK_FALSE(sipvsd::truncated_packet_id(m.bytes.data(), m.bytes.size() - 4));  // cut inside the header
  CHECK_FALSE(sipvsd::truncated_packet_id(m.bytes.data(), NLMSG_HDRLEN));      // cut before the attributes
  MessageHead other((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG);
  other.packet_hdr(5);
  CHECK_FALSE(sipvsd::truncated_packet_id(other.bytes.data(), other.bytes.size()));
  MessageHead broken;
  const nlattr zero{0, NFQA_MARK};  // an attribute length below its own header: stop, do not loop
  std::vector<char>& b = broken.bytes;
  b.insert(b.end(), reinterpret_cast<const char*>(&zero), reinterpret_cast<const char*>(&zero) + sizeof zero);
  broken.packet_hdr(5);
  CHECK_FALSE(sipvsd::truncated_packet_id(b.data(), b.size()));
}
