// The NFQUEUE worker's parts that need no kernel, and the policy it reads.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "config_file.hpp"
#include "daemon.hpp"
#include "nfqueue.hpp"

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

TEST_CASE("the data-path policy travels in the engine's snapshot, with the marks it belongs to") {
  using sipvsd::DataPathPolicy;
  CHECK(DataPathPolicy::unpack(0).mark_mask == 0xffffffffu);  // the zero word is the default policy
  CHECK_FALSE(DataPathPolicy::unpack(0).drop_unplaced);
  const DataPathPolicy a{0x0000ffffu, false}, b{0xffff0000u, true};
  auto mask_of = [](uint64_t word) { return DataPathPolicy::unpack(word).mark_mask; };

  sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({"mark_mask": "0x0000ffff", "services": [
      {"name": "s", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.1", "mark": 1}]}]})"));
  c.engine.caller_data = DataPathPolicy::pack(a);
  sipvs::Engine engine(c.engine);
  auto worker = engine.make_worker();
  worker.refresh();
  CHECK(mask_of(worker.caller_data()) == a.mark_mask);
  c.engine.services[0].servers[0].mark = 0x10000;
  c.engine.caller_data = DataPathPolicy::pack(b);
  REQUIRE_FALSE(engine.apply(c.engine));
  // Until the worker refreshes it has the old marks, and the old mask with them.
  CHECK(mask_of(worker.caller_data()) == a.mark_mask);
  worker.refresh();
  CHECK(mask_of(worker.caller_data()) == b.mark_mask);
  CHECK(DataPathPolicy::unpack(worker.caller_data()).drop_unplaced);
  // A health change publishes a new snapshot of the same configuration.
  REQUIRE(engine.set_server_up("s", *sipvs::IpAddress::parse("198.18.1.1"), 0, false, false));
  worker.refresh();
  CHECK(mask_of(worker.caller_data()) == b.mark_mask);
}

TEST_CASE("the daemon publishes its mark mask and unplaced policy with the engine's configuration") {
  sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({"mark_mask": "0x0000ffff", "services": [
      {"name": "s", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.1", "mark": 1}]}]})"));
  sipvsd::Daemon daemon(c, "test.json");
  CHECK(sipvsd::DataPathPolicy::unpack(daemon.engine().config().caller_data).mark_mask == 0x0000ffffu);
  c.mark_mask = 0xffff0000u;
  c.unplaced = sipvsd::DaemonConfig::Unplaced::drop;
  c.engine.services[0].servers[0].mark = 0x10000;
  REQUIRE_FALSE(daemon.apply(c));
  const auto policy = sipvsd::DataPathPolicy::unpack(daemon.engine().config().caller_data);
  CHECK(policy.mark_mask == 0xffff0000u);
  CHECK(policy.drop_unplaced);
}
