// The sip-tag PE in the decision path: a message that names its real server
// (a tag the server put in its Via or Contact) goes there and takes the
// call's template along; without a tag the Call-ID template decides.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/decision_text.hpp"
#include "engine/engine.hpp"
#include "config_builder.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

const char* const kVip = "198.18.2.100";
const char* const kCarrier = "198.18.9.9";

// The tests' usual SIP service (config_builder.hpp), its servers tagged s1-s3.
ServiceConfig tag_service(std::string pe = "sip-tag") {
  ServiceConfig s = test::sip_service();
  s.pe = std::move(pe);
  for (std::size_t i = 0; i < s.servers.size(); ++i) s.servers[i].tag = "s" + std::to_string(i + 1);
  return s;
}

EngineConfig config_with(ServiceConfig s) {
  EngineConfig c;
  c.max_templates = 1000;
  c.services.push_back(std::move(s));
  return c;
}

// The carrier's answer to what a server sent, its Via tagged or not.
std::string response(std::string_view call_id, std::string_view tag) {
  const std::string param = tag.empty() ? "" : ";sipvsd=" + std::string(tag);
  return "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + std::string(kVip) + ":5060;branch=z9hG4bK-1" + param +
         "\r\nCall-ID: " + std::string(call_id) + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
}

// The carrier's in-dialog request to a server's Contact.
std::string bye(std::string_view call_id, std::string_view tag) {
  const std::string param = tag.empty() ? "" : ";sipvsd=" + std::string(tag);
  return "BYE sip:" + std::string(kVip) + ":5060" + param + " SIP/2.0\r\nVia: SIP/2.0/UDP " + kCarrier +
         ":5060;branch=z9hG4bK-2\r\nCall-ID: " + std::string(call_id) + "\r\nCSeq: 2 BYE\r\n\r\n";
}

std::vector<uint8_t> g_packet;  // kept until the next call: a decision points into it

Decision back(Engine::Decider& w, std::string_view payload, Seconds now = 1000) {
  g_packet = test::udp_packet(kCarrier, 5060, kVip, 5060, payload);
  return w.decide(g_packet, 0, now);
}

const ServiceStats& sip_stats(const EngineStats& s) { return s.services.at(0); }

}  // namespace

TEST_CASE("a tagged message reaches the server it names, with no template and no path through the director") {
  Engine engine(config_with(tag_service()));
  auto w = engine.make_decider();
  for (int i = 0; i < 30; ++i) {
    const std::string id = "out-" + std::to_string(i);
    const std::string tag = "s" + std::to_string(i % 3 + 1);
    Decision d = back(w, response(id, tag));
    REQUIRE(d.outcome == Outcome::placed);
    CHECK(d.tagged);
    CHECK(d.template_created);
    CHECK(d.mark == static_cast<uint32_t>(i % 3 + 1));
    CHECK(describe(d).find(" tag=" + tag + " template=new ") != std::string::npos);
    d = back(w, bye(id, tag));
    CHECK(d.template_hit);
    CHECK(d.mark == static_cast<uint32_t>(i % 3 + 1));
    // The tag stored the call's template: an untagged message of the call follows it.
    CHECK(back(w, response(id, "")).mark == static_cast<uint32_t>(i % 3 + 1));
  }
  const EngineStats s = engine.stats();
  CHECK(sip_stats(s).counters.tagged_packets == 60);
  CHECK(sip_stats(s).counters.templates_learned == 30);
  CHECK(sip_stats(s).counters.templates_created == 0);  // none scheduled
  CHECK(sip_stats(s).counters.packets == 90);
  CHECK(sip_stats(s).servers[2].counters.tagged_packets == 20);
  CHECK(sip_stats(s).servers[2].counters.templates_learned == 10);
  CHECK(sip_stats(s).servers[2].live_templates == 10);
  const std::vector<TemplateInfo> list = engine.templates({}, 1000);
  REQUIRE(list.size() == 30);
  CHECK(list[0].learned);
  CHECK(list[0].client.to_string() == kCarrier);
}

TEST_CASE("a tag moves the call's template; without one the Call-ID template decides") {
  Engine engine(config_with(tag_service()));
  auto w = engine.make_decider();
  const Decision first = back(w, test::invite("in-1"));  // untagged: scheduled, as the sip PE does
  REQUIRE(first.template_created);
  CHECK_FALSE(first.tagged);
  const uint32_t other = first.mark % 3 + 1;
  const std::string other_tag = "s" + std::to_string(other);
  Decision d = back(w, bye("in-1", other_tag), 1010);
  CHECK(d.mark == other);
  CHECK(d.template_moved);
  CHECK(back(w, test::invite("in-1", "ACK"), 1020).mark == other);
  CHECK(sip_stats(engine.stats()).counters.templates_created == 1);
  CHECK(sip_stats(engine.stats()).counters.templates_learned == 1);
}

TEST_CASE("a tag that names no server holding calls is counted and the template decides") {
  Engine engine(config_with(tag_service()));
  auto w = engine.make_decider();
  const Decision first = back(w, test::invite("c"));
  Decision d = back(w, bye("c", "s9"));
  CHECK_FALSE(d.tagged);
  CHECK(d.template_hit);
  CHECK(d.mark == first.mark);
  CHECK(describe(d).find(" unknown-tag=s9 ") != std::string::npos);
  CHECK(sip_stats(engine.stats()).unknown_tag == 1);

  // A server whose calls are being moved away is not one to name.
  const std::string holder = first.server->address.to_string();
  const std::string holder_tag = "s" + std::to_string(first.mark);
  const std::string next = "198.18.1." + std::to_string(first.mark % 3 + 1);
  const std::string next_tag = "s" + std::to_string(first.mark % 3 + 1);
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse(next), 0, ServerHealth::down_expiring) ==
          HealthChange::changed);
  w.refresh();
  d = back(w, bye("c", next_tag));
  CHECK_FALSE(d.tagged);
  CHECK(d.mark == first.mark);
  CHECK(sip_stats(engine.stats()).unknown_tag == 2);
  // Down with its templates kept, a server still holds the calls it names.
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse(next), 0, ServerHealth::down) == HealthChange::changed);
  w.refresh();
  d = back(w, bye("c", next_tag));
  CHECK(d.tagged);
  CHECK(d.server->address.to_string() == next);
}

TEST_CASE("only a sip-tag service reads tags; a quiesced server still gets the calls it names") {
  Engine engine(config_with(tag_service("sip")));
  auto w = engine.make_decider();
  const Decision first = back(w, test::invite("c"));
  const std::string other_tag = "s" + std::to_string(first.mark % 3 + 1);
  const Decision d = back(w, bye("c", other_tag));
  CHECK_FALSE(d.tagged);
  CHECK(d.tag.empty());
  CHECK(d.mark == first.mark);

  EngineConfig c = config_with(tag_service());
  c.services[0].servers[1].weight = 0;
  Engine drained(std::move(c));
  auto v = drained.make_decider();
  CHECK(back(v, response("new", "s2")).mark == 2);
}

TEST_CASE("a tagged message from a client is held to the per-source limit on new templates") {
  EngineConfig c = config_with(tag_service());
  c.max_new_templates_per_source = 2;
  Engine engine(std::move(c));
  auto w = engine.make_decider();
  CHECK(back(w, response("a", "s1")).template_created);
  CHECK(back(w, response("b", "s1")).template_created);
  const Decision d = back(w, response("c", "s1"));
  CHECK(d.rate_limited);
  CHECK_FALSE(d.template_created);
  CHECK(d.mark == 1);  // placed all the same
}

TEST_CASE("server tags: token characters, unique within a service") {
  EngineConfig c = config_with(tag_service());
  CHECK_FALSE(validate(c));
  c.services[0].servers[2].tag = "s1";
  auto e = validate(c);
  REQUIRE(e);
  CHECK(e->message() == "services[0].servers[2].tag: tag 's1' is already servers[0]'s in this service");
  CHECK(e->kind == ConfigError::Kind::conflict);
  c.services[0].servers[2].tag = "s 3";
  e = validate(c);
  REQUIRE(e);
  CHECK(e->message() == "services[0].servers[2].tag: 's 3' is not a tag: 1-32 of letters, digits and -.!%*_+`'~");
  c.services[0].servers[2].tag = std::string(33, 'x');
  CHECK(validate(c));
  c.services[0].servers[2].tag = "";  // no tag: fine, the server just is not named
  CHECK_FALSE(validate(c));

  // Another service may use the same tags; an edited server's clash is told by name.
  c.services.push_back(c.services[0]);
  c.services[1].name = "b";
  c.services[1].port = 5070;
  for (auto& r : c.services[1].servers) r.mark += 10;
  CHECK_FALSE(validate(c));
  c.services[1].servers[2].tag = "s2";
  e = edited_conflicts(c, {1, 2});
  REQUIRE(e);
  CHECK(e->message() == "services[1].servers[2].tag: tag 's2' is already server 198.18.1.2's in service 'b'");
}
