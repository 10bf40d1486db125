#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/decision_text.hpp"
#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

EngineConfig one_sip_service() {
  ServiceConfig s;
  s.name = "sip4";
  s.vip = *IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = "rr";
  s.persistence_timeout = 60;
  s.netmask = 0;
  s.one_packet = true;
  s.pe = "sip";
  RealServerConfig r;
  r.address = *IpAddress::parse("198.18.1.1");
  r.port = 5062;
  r.mark = 0x1f;
  s.servers = {r};
  EngineConfig c;
  c.services = {s};
  return c;
}

struct Described {
  std::vector<uint8_t> packet;  // the decision points into it
  std::string line;
};

Described describe_packet(Engine::Decider& w, std::vector<uint8_t> packet) {
  Described d{std::move(packet), {}};
  d.line = describe(w.decide(d.packet, 0, 1000));
  return d;
}

}  // namespace

TEST_CASE("describe: a placed call names its Call-ID, template, service, server and mark") {
  Engine engine(one_sip_service());
  auto w = engine.make_decider();
  const auto invite = [](std::string_view id) {
    return test::udp_packet("198.18.0.1", 5061, "198.18.2.100", 5060, test::invite(id));
  };
  CHECK(describe_packet(w, invite("call-a")).line ==
        "198.18.0.1:5061 -> 198.18.2.100:5060 INVITE call-id=call-a template=new service=sip4 "
        "server=198.18.1.1:5062 mark=0x1f");
  CHECK(describe_packet(w, invite("call-a")).line.find(" template=hit ") != std::string::npos);
}

TEST_CASE("describe: fallbacks, other services and unreadable packets say why") {
  Engine engine(one_sip_service());
  auto w = engine.make_decider();
  const Described no_call_id = describe_packet(
      w, test::udp_packet("198.18.0.1", 5061, "198.18.2.100", 5060, "SIP/2.0 200 OK\r\nVia: x\r\n\r\n"));
  CHECK(no_call_id.line.starts_with("198.18.0.1:5061 -> 198.18.2.100:5060 SIP/2.0 200 fallback=absent template=new"));
  CHECK(describe_packet(w, test::udp_packet("198.18.0.1", 5061, "198.18.2.7", 5060, test::invite("x"))).line ==
        "198.18.0.1:5061 -> 198.18.2.7:5060 INVITE outcome=no_service");
  CHECK(describe_packet(w, {0x45, 0}).line == "? -> ? packet=truncated outcome=bad_packet");
}

TEST_CASE("describe: bytes of the packet that are not printable are shown as dots") {
  Engine engine(one_sip_service());
  auto w = engine.make_decider();
  const Described d = describe_packet(
      w, test::udp_packet("198.18.0.1", 5061, "198.18.2.100", 5060, test::invite("a\x1b[2Jb")));
  CHECK(d.line.find(" INVITE call-id=a.[2Jb ") != std::string::npos);
}
