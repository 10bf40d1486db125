// Memory running out inside the engine, as a queue worker meets it: the
// template table's node pool and buckets allocate when they grow, and an
// allocation that fails there must cost one packet its placement, never the
// process nor the templates already stored.
#include <doctest/doctest.h>

#include <map>
#include <new>
#include <string>
#include <vector>

#include "../../packet_builder.hpp"
#include "engine/engine.hpp"
#include "daemon/datapath/packet_verdict.hpp"
#include "refused_allocations.hpp"

namespace {

using sipvsd::PacketVerdict;
const sipvsd::SenderMap kNoSenders;

sipvs::EngineConfig two_servers(uint64_t max_templates) {
  sipvs::ServiceConfig s;
  s.name = "sip";
  s.vip = *sipvs::IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = "rr";
  s.persistence_timeout = 60;
  s.netmask = 0;
  s.one_packet = true;
  s.pe = "sip";
  for (uint32_t i = 1; i <= 2; ++i) {
    sipvs::RealServerConfig r;
    r.address = *sipvs::IpAddress::parse("198.18.1." + std::to_string(i));
    r.port = 5060;
    r.weight = 1;
    r.mark = i << 8;
    s.servers.push_back(r);
  }
  sipvs::EngineConfig c;
  c.max_templates = max_templates;
  c.services.push_back(std::move(s));
  return c;
}

std::vector<uint8_t> message(const std::string& call_id, std::string_view method = "INVITE") {
  return test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call_id, method));
}

}  // namespace

TEST_CASE("the first call finds no memory: the packet gets the unplaced policy, the next one is placed") {
  sipvs::Engine engine(two_servers(1000));
  auto worker = engine.make_decider();
  worker.refresh();
  const auto invite = message("first@trunk");
  const uint32_t foreign_bits = 0xabcd0000;  // another user's bits of the mark
  const sipvsd::DataPathPolicy policy{0x0000ffff, false};

  PacketVerdict v;
  {
    test::RefusedAllocations refused;
    v = sipvsd::packet_verdict(worker, invite, foreign_bits, 10, policy, kNoSenders, {});
  }
  CHECK(v.decide_failed);
  CHECK(std::string(v.decide_error) == std::bad_alloc().what());
  CHECK(v.kind == PacketVerdict::Kind::unplaced_accepted);
  CHECK(v.mark == foreign_bits);  // left as it came
  CHECK(engine.stats().templates_live == 0);

  {
    test::RefusedAllocations refused;
    v = sipvsd::packet_verdict(worker, invite, foreign_bits, 10, {0x0000ffff, true}, kNoSenders, {});
  }
  CHECK(v.decide_failed);
  CHECK(v.kind == PacketVerdict::Kind::unplaced_dropped);

  // The retransmission, with memory: placed and stored, the foreign bits kept.
  v = sipvsd::packet_verdict(worker, invite, foreign_bits, 11, policy, kNoSenders, {});
  CHECK_FALSE(v.decide_failed);
  REQUIRE(v.kind == PacketVerdict::Kind::placed);
  CHECK(v.decision.template_created);
  CHECK((v.mark & 0xffff0000) == foreign_bits);
  CHECK((v.mark == (foreign_bits | 0x100) || v.mark == (foreign_bits | 0x200)));
  CHECK(engine.stats().templates_live == 1);
}

TEST_CASE("every allocation point of placing a call fails once: no template is lost or moved") {
  // 1100 calls cross several node-pool chunks and the buckets' first growth
  // (at 1024 templates in one shard). Each call is first offered with every
  // allocation refused; where placing it had to allocate, the packet loses its
  // placement, and its retransmission (memory back) places it.
  constexpr int kCalls = 1100;
  sipvs::Engine engine(two_servers(2000));
  auto worker = engine.make_decider();
  worker.refresh();
  const sipvsd::DataPathPolicy policy;

  std::map<std::string, uint32_t> mark_of;
  int failed = 0;
  for (int i = 0; i < kCalls; ++i) {
    const std::string call_id = "call-" + std::to_string(i) + "@trunk";
    const auto invite = message(call_id);
    PacketVerdict v;
    {
      test::RefusedAllocations refused;
      v = sipvsd::packet_verdict(worker, invite, 0, 10, policy, kNoSenders, {});
    }
    if (v.decide_failed) {
      ++failed;
      CHECK(v.kind == PacketVerdict::Kind::unplaced_accepted);
      v = sipvsd::packet_verdict(worker, invite, 0, 10, policy, kNoSenders, {});
      REQUIRE_FALSE(v.decide_failed);
    }
    REQUIRE(v.kind == PacketVerdict::Kind::placed);
    CHECK(v.decision.template_created);
    mark_of[call_id] = v.mark;
  }
  // At least one failure per chunk of nodes (about 200 each) and one for the buckets.
  CHECK(failed >= kCalls / 200 + 1);
  // Most calls were placed without allocating: the data path does not allocate per packet.
  CHECK(failed < 20);
  CHECK(engine.stats().templates_live == kCalls);

  // Every call's next message finds its template, still without memory.
  std::vector<std::pair<std::vector<uint8_t>, uint32_t>> byes;
  for (const auto& [call_id, mark] : mark_of) byes.emplace_back(message(call_id, "BYE"), mark);
  int moved = 0, not_found = 0, failed_later = 0;
  {
    test::RefusedAllocations refused;
    for (const auto& [bye, mark] : byes) {
      const PacketVerdict v = sipvsd::packet_verdict(worker, bye, 0, 20, policy, kNoSenders, {});
      failed_later += v.decide_failed;
      not_found += !v.decision.template_hit;
      moved += v.mark != mark;
    }
  }
  CHECK(failed_later == 0);
  CHECK(not_found == 0);
  CHECK(moved == 0);
}
