// Decider::learn: calls the real servers place keep their server for what
// comes back (responses, in-dialog requests), whatever the scheduler says.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/decision_text.hpp"
#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

const char* const kVip = "198.18.2.100";
const char* const kCarrier = "198.18.9.9";

RealServerConfig server(std::string_view address, uint32_t mark) {
  RealServerConfig r;
  r.address = *IpAddress::parse(address);
  r.port = 5060;
  r.mark = mark;
  return r;
}

ServiceConfig sip_service() {
  ServiceConfig s;
  s.name = "sip";
  s.vip = *IpAddress::parse(kVip);
  s.port = 5060;
  s.scheduler = "rr";
  s.persistence_timeout = 60;
  s.one_packet = true;
  s.pe = "sip";
  s.servers = {server("198.18.1.1", 1), server("198.18.1.2", 2), server("198.18.1.3", 3)};
  return s;
}

EngineConfig config_with(ServiceConfig s, uint64_t max_templates = 1000) {
  EngineConfig c;
  c.max_templates = max_templates;
  c.services.push_back(std::move(s));
  return c;
}

std::string response(std::string_view call_id, std::string_view status = "200 OK") {
  return "SIP/2.0 " + std::string(status) + "\r\nVia: SIP/2.0/UDP " + kVip +
         ":5060;branch=z9hG4bK-1\r\nFrom: <sip:a@" + kVip + ">;tag=1\r\nTo: <sip:b@" + kCarrier +
         ">;tag=2\r\nCall-ID: " + std::string(call_id) + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
}

// Kept until the next call: a decision points into its packet.
std::vector<uint8_t> g_packet;

// A message a real server sends from the VIP to the carrier.
Decision out(Engine::Decider& w, std::string_view payload, Seconds now = 1000) {
  g_packet = test::udp_packet(kVip, 5060, kCarrier, 5060, payload);
  return w.decide(g_packet, 0, now);
}

// What the carrier sends back to the VIP.
Decision back(Engine::Decider& w, std::string_view payload, Seconds now = 1000) {
  g_packet = test::udp_packet(kCarrier, 5060, kVip, 5060, payload);
  return w.decide(g_packet, 0, now);
}

Decision learned_from(Engine::Decider& w, std::string_view payload, std::string_view sender, Seconds now = 1000) {
  Decision d = out(w, payload, now);
  REQUIRE(d.outcome == Outcome::outgoing);
  const IpAddress address = *IpAddress::parse(sender);
  w.learn(d, {&address, 1}, now);
  return d;
}

const ServiceStats& sip_stats(const EngineStats& s) { return s.services.at(0); }

}  // namespace

TEST_CASE("a call a real server places: what comes back reaches that server, whatever the scheduler says") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  const std::vector<std::string> senders{"198.18.1.1", "198.18.1.2", "198.18.1.3"};
  for (int i = 0; i < 30; ++i) {
    const std::string id = "out-" + std::to_string(i);
    const std::string& sender = senders[i % 3];
    const Decision d = learned_from(w, test::invite(id), sender);
    CHECK(d.outcome == Outcome::learned);
    CHECK(d.template_created);
    CHECK(d.server->address.to_string() == sender);
  }
  // Without learning, rr would spread these over the three servers in turn,
  // starting anywhere: two of three would miss.
  for (int i = 0; i < 30; ++i) {
    const std::string id = "out-" + std::to_string(i);
    const Decision d = back(w, response(id));
    REQUIRE(d.outcome == Outcome::placed);
    CHECK(d.template_hit);
    CHECK(d.mark == static_cast<uint32_t>(i % 3 + 1));
    CHECK(back(w, test::invite(id, "BYE")).mark == d.mark);  // an in-dialog request from the carrier
  }
  const EngineStats s = engine.stats();
  CHECK(sip_stats(s).counters.outgoing_packets == 30);
  CHECK(sip_stats(s).counters.templates_learned == 30);
  CHECK(sip_stats(s).counters.templates_created == 0);  // none scheduled
  CHECK(sip_stats(s).servers[1].counters.outgoing_packets == 10);
  CHECK(sip_stats(s).servers[1].counters.templates_learned == 10);
  CHECK(sip_stats(s).servers[1].live_templates == 10);
  CHECK(s.packets == 90);
}

TEST_CASE("the server that sends for a call takes it over; its own messages only refresh") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  const Decision first = back(w, test::invite("in-1"));  // an incoming call, scheduled
  REQUIRE(first.template_created);
  const std::string holder = first.server->address.to_string();
  const std::string other = holder == "198.18.1.1" ? "198.18.1.2" : "198.18.1.1";

  Decision d = learned_from(w, response("in-1"), holder, 1010);
  CHECK(d.outcome == Outcome::learned);
  CHECK(d.template_hit);
  CHECK_FALSE(d.template_moved);
  CHECK(describe(d).ends_with("outcome=learned template=hit service=sip server=" + holder + ":5060"));

  d = learned_from(w, test::invite("in-1", "BYE"), other, 1020);
  CHECK(d.template_moved);
  CHECK(describe(d).find(" template=moved ") != std::string::npos);
  CHECK(back(w, response("in-1"), 1030).server->address.to_string() == other);

  const std::vector<TemplateInfo> list = engine.templates({}, 1030);
  REQUIRE(list.size() == 1);
  CHECK(list[0].learned);
  CHECK(list[0].server.to_string() == other);
  CHECK(list[0].expires_in == 60);  // refreshed by the last packet in, as any template
  CHECK(sip_stats(engine.stats()).counters.templates_learned == 1);  // moved once, hit once
}

TEST_CASE("a sender that is not a server of the service, or not known, learns nothing") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  Decision d = learned_from(w, test::invite("x"), "198.18.7.7");
  CHECK(d.outcome == Outcome::unknown_sender);
  CHECK(describe(d).ends_with("outcome=unknown_sender service=sip"));
  d = out(w, test::invite("x"));
  w.learn(d, {}, 1000);  // the daemon could not tell who sent it
  CHECK(d.outcome == Outcome::unknown_sender);
  CHECK(engine.template_count() == 0);
  CHECK(sip_stats(engine.stats()).unknown_sender == 2);
  CHECK(sip_stats(engine.stats()).counters.outgoing_packets == 2);

  // One host with two of the service's server addresses: which one sent it?
  const IpAddress both[] = {*IpAddress::parse("198.18.1.1"), *IpAddress::parse("198.18.1.2")};
  d = out(w, test::invite("x"));
  w.learn(d, both, 1000);
  CHECK(d.outcome == Outcome::unknown_sender);
  // The host's other addresses (of another family, another service) do not matter.
  const IpAddress dual[] = {*IpAddress::parse("2001:db8::1"), *IpAddress::parse("198.18.1.3")};
  d = out(w, test::invite("x"));
  w.learn(d, dual, 1000);
  CHECK(d.outcome == Outcome::learned);
  CHECK(d.server->address.to_string() == "198.18.1.3");

  // A server whose calls are being moved away takes none by sending either.
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 5060, ServerHealth::down_expiring) ==
          HealthChange::changed);
  w.refresh();
  CHECK(learned_from(w, test::invite("y"), "198.18.1.2").outcome == Outcome::unknown_sender);
  // Down with its templates kept, it still holds its own calls.
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 5060, ServerHealth::down) ==
          HealthChange::changed);
  w.refresh();
  CHECK(learned_from(w, test::invite("z"), "198.18.1.2").outcome == Outcome::learned);
}

TEST_CASE("learned templates follow the table's rules: cap, expiry, flush, restore") {
  Engine engine(config_with(sip_service(), 1));
  auto w = engine.make_decider();
  // The cap is per shard (at least one each): a few hundred calls reach it.
  int full = 0;
  for (int i = 0; i < 1000 && full == 0; ++i) {
    const Decision d = learned_from(w, test::invite("c" + std::to_string(i)), "198.18.1.3");
    REQUIRE(d.outcome == Outcome::learned);
    if (d.table_full) {
      ++full;
      CHECK_FALSE(d.template_created);
    }
  }
  CHECK(full == 1);
  CHECK(engine.stats().table_full == 1);

  std::vector<TemplateInfo> list = engine.templates({}, 1000);
  REQUIRE_FALSE(list.empty());
  CHECK(list[0].client.to_string() == kCarrier);  // the remote party is the template's client
  CHECK(list[0].learned);
  CHECK(engine.expire_step(1061, 1 << 20) == list.size());  // the service's timeout, as any template
  list.resize(1);

  Engine restarted(config_with(sip_service()));
  CHECK(restarted.restore_template(list[0], 5000) == Restored::yes);
  list = restarted.templates({}, 5000);
  REQUIRE(list.size() == 1);
  CHECK(list[0].learned);
  CHECK(restarted.flush_templates({}) == 1);
}

TEST_CASE("decide() tells a message out from one that comes in by the service's own address") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  CHECK(out(w, test::invite("o")).outcome == Outcome::outgoing);
  g_packet = test::udp_packet(kVip, 5070, kCarrier, 5060, test::invite("o"));  // another port of the VIP
  CHECK(w.decide(g_packet, 0, 1000).outcome == Outcome::no_service);
  g_packet = test::udp_packet("198.18.9.8", 5060, kCarrier, 5060, test::invite("o"));
  CHECK(w.decide(g_packet, 0, 1000).outcome == Outcome::no_service);
  // learn() only finishes what decide() called outgoing.
  Decision d = back(w, test::invite("i"));
  const IpAddress a = *IpAddress::parse("198.18.1.1");
  w.learn(d, {&a, 1}, 1000);
  CHECK(d.outcome == Outcome::placed);
  CHECK(engine.stats().packets == 3);  // the outgoing one is counted by learn(), not yet
}
