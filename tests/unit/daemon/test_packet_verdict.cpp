// The data-path policy a queue worker reads, and the verdict it gives one packet.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "../packet_builder.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/daemon.hpp"
#include "daemon/datapath/packet_verdict.hpp"

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
  auto worker = engine.make_decider();
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
  REQUIRE(engine.set_server_health("s", *sipvs::IpAddress::parse("198.18.1.1"), 0, sipvs::ServerHealth::down) == sipvs::HealthChange::changed);
  worker.refresh();
  CHECK(mask_of(worker.caller_data()) == b.mark_mask);
}

TEST_CASE("the daemon publishes its mark mask and unplaced policy with the engine's configuration") {
  sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({"mark_mask": "0x0000ffff", "services": [
      {"name": "s", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.1", "mark": 1}]}]})"));
  sipvsd::Daemon daemon(sipvsd::check_config(c));
  CHECK(sipvsd::DataPathPolicy::unpack(daemon.engine().config().caller_data).mark_mask == 0x0000ffffu);
  sipvsd::DaemonConfig next = c;
  next.mark_mask = 0xffff0000u;
  next.unplaced = sipvsd::DaemonConfig::Unplaced::drop;
  next.engine.services[0].servers[0].mark = 0x10000;
  REQUIRE_FALSE(daemon.apply(sipvsd::check_config(next), c));
  const auto policy = sipvsd::DataPathPolicy::unpack(daemon.engine().config().caller_data);
  CHECK(policy.mark_mask == 0xffff0000u);
  CHECK(policy.drop_unplaced);
}

namespace {
const sipvsd::SenderMap kNoSenders;
}  // namespace

TEST_CASE("a placed packet's mark changes under the mask only; an unplaced one keeps its mark or is dropped") {
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({"services": [
      {"name": "s", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr", "persistence_timeout": 60, "pe": "sip",
       "servers": [{"address": "198.18.1.1", "mark": "0x1200"}]}]})"));
  sipvs::Engine engine(c.engine);
  auto worker = engine.make_decider();
  worker.refresh();
  using Kind = sipvsd::PacketVerdict::Kind;
  const auto to_vip = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("mask@trunk"));
  const auto elsewhere = test::udp_packet("198.18.0.1", 5060, "198.18.2.101", 5060, test::invite("other@trunk"));

  sipvsd::PacketVerdict v = sipvsd::packet_verdict(worker, to_vip, 0xa0a0a0a0, 1, {0x0000ff00, false}, kNoSenders, {});
  CHECK(v.kind == Kind::placed);
  CHECK(v.mark == 0xa0a012a0);
  v = sipvsd::packet_verdict(worker, to_vip, 0xa0a0a0a0, 1, {}, kNoSenders, {});
  CHECK(v.mark == 0x1200);  // the whole mark is ours by default

  v = sipvsd::packet_verdict(worker, elsewhere, 0xa0a0a0a0, 1, {0x0000ff00, false}, kNoSenders, {});
  CHECK(v.kind == Kind::unplaced_accepted);
  CHECK(v.mark == 0xa0a0a0a0);
  CHECK_FALSE(v.decide_failed);
  v = sipvsd::packet_verdict(worker, elsewhere, 0xa0a0a0a0, 1, {0x0000ff00, true}, kNoSenders, {});
  CHECK(v.kind == Kind::unplaced_dropped);
}

TEST_CASE("a message a real server sends out is accepted as it came, whatever the policy, and its call learned") {
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({"services": [
      {"name": "s", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr", "persistence_timeout": 60, "pe": "sip",
       "servers": [{"address": "198.18.1.1", "mark": "0x1200"}, {"address": "198.18.1.2", "mark": "0x1300"}]}]})"));
  sipvs::Engine engine(c.engine);
  auto worker = engine.make_decider();
  const std::array<uint8_t, 6> mac{0x02, 0, 0xc6, 0x12, 0x01, 0x02};
  sipvsd::Neighbour n;
  n.address = *sipvs::IpAddress::parse("198.18.1.2");
  std::copy(mac.begin(), mac.end(), n.lladdr.begin());
  n.lladdr_len = 6;
  const sipvsd::SenderMap senders({n}, {n.address, *sipvs::IpAddress::parse("198.18.1.1")});
  const auto out = test::udp_packet("198.18.2.100", 5060, "198.18.9.9", 5060, test::invite("placed-by-rs2"));
  using Kind = sipvsd::PacketVerdict::Kind;

  sipvsd::PacketVerdict v = sipvsd::packet_verdict(worker, out, 0xa0a0a0a0, 1, {0x0000ff00, true}, senders, mac);
  CHECK(v.kind == Kind::outgoing);
  CHECK(v.mark == 0xa0a0a0a0u);  // as it came
  CHECK(v.decision.outcome == sipvs::Outcome::learned);
  CHECK(v.decision.server->address.to_string() == "198.18.1.2");
  const auto back = test::udp_packet("198.18.9.9", 5060, "198.18.2.100", 5060, test::invite("placed-by-rs2", "BYE"));
  CHECK(sipvsd::packet_verdict(worker, back, 0, 2, {}, senders, {}).mark == 0x1300u);

  // A frame from a host the neighbour table does not have: still accepted, not learned.
  const std::array<uint8_t, 6> stranger{0x02, 0, 0, 0, 0, 0x99};
  v = sipvsd::packet_verdict(worker, out, 0, 3, {0x0000ff00, true}, senders, stranger);
  CHECK(v.kind == Kind::outgoing);
  CHECK(v.decision.outcome == sipvs::Outcome::unknown_sender);
}
