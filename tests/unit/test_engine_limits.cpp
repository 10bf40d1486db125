// A real server's max_calls and min_calls, as IPVS's upper and lower
// connection thresholds: a server at its limit gets no new calls from any
// scheduler, keeps its calls in progress, and takes new ones again below
// the lower threshold; drained says a quiesced server holds no call.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_builder.hpp"
#include "engine/call_limits.hpp"
#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

// One SIP service over 198.18.1.1-3 (marks 1-3), the first with these limits.
EngineConfig limited(uint32_t max_calls, uint32_t min_calls = 0, std::string scheduler = "rr") {
  ServiceConfig s = test::sip_service(std::move(scheduler));
  s.netmask = 0;
  s.servers[0].max_calls = max_calls;
  s.servers[0].min_calls = min_calls;
  EngineConfig c;
  c.max_templates = 10000;
  c.services.push_back(std::move(s));
  return c;
}

Decision call(Engine::Decider& w, const std::string& call_id, std::string_view method = "INVITE",
              std::string_view src = "198.18.0.1") {
  // Kept until the next call: a decision's pe_data points into its packet.
  static std::vector<uint8_t> packet;
  packet = test::udp_packet(src, 5060, "198.18.2.100", 5060, test::invite(call_id, method));
  return w.decide(packet, 0, 1000);
}

const ServerStats& first_server(const EngineStats& s) { return s.services.at(0).servers.at(0); }

// New calls "<prefix>-<i>" until the first server (mark 1) holds `live`
// templates; returns their Call-IDs.
std::vector<std::string> fill_first(Engine& e, Engine::Decider& w, const std::string& prefix, int64_t live) {
  std::vector<std::string> on_first;
  for (int i = 0; first_server(e.stats()).live_templates < live && i < 1000; ++i) {
    const std::string id = prefix + "-" + std::to_string(i);
    if (call(w, id).mark == 1) on_first.push_back(id);
  }
  REQUIRE(first_server(e.stats()).live_templates == live);
  return on_first;
}

// Ends a call as far as the director knows: its template goes.
void end_call(Engine& e, const std::string& call_id) {
  TemplateFilter f;
  f.pe_data = call_id;
  REQUIRE(e.flush_templates(f) == 1);
}

// How many of `n` new calls went to the first server.
int new_calls_on_first(Engine::Decider& w, const std::string& prefix, int n) {
  int on_first = 0;
  for (int i = 0; i < n; ++i) on_first += call(w, prefix + "-" + std::to_string(i)).mark == 1;
  return on_first;
}

}  // namespace

TEST_CASE("the lower threshold: min_calls, else 3/4 of max_calls rounded up, as ip_vs_unbind_dest") {
  RealServerConfig r;
  r.max_calls = 100;
  CHECK(CallLimits::of(r).low == 75);
  r.max_calls = 10;  // ip_vs_unbind_dest: overload ends when live * 4 < 30, at 7
  CHECK(CallLimits::of(r).low == 8);
  CHECK(CallLimits::of(r).overloaded(8, true));
  CHECK_FALSE(CallLimits::of(r).overloaded(7, true));
  r.max_calls = 1;
  CHECK(CallLimits::of(r).low == 1);
  r.max_calls = 8;
  r.min_calls = 2;
  CHECK(CallLimits::of(r).low == 2);
  CHECK_FALSE(CallLimits{}.overloaded(1'000'000, true));  // no limit
}

TEST_CASE("max_calls: overloaded at the limit, new calls go elsewhere until it falls below min_calls") {
  Engine e(limited(4, 2));
  auto w = e.make_decider();
  const std::vector<std::string> on_first = fill_first(e, w, "a", 4);
  CHECK(first_server(e.stats()).overloaded);
  CHECK(new_calls_on_first(w, "b", 20) == 0);

  end_call(e, on_first[0]);  // 3, then 2: not below min_calls yet
  end_call(e, on_first[1]);
  CHECK(first_server(e.stats()).live_templates == 2);
  CHECK(first_server(e.stats()).overloaded);
  CHECK(new_calls_on_first(w, "c", 20) == 0);

  end_call(e, on_first[2]);  // 1: below min_calls
  CHECK_FALSE(first_server(e.stats()).overloaded);
  CHECK(new_calls_on_first(w, "d", 6) > 0);
}

TEST_CASE("max_calls without min_calls: the overload ends below 3/4 of it") {
  Engine e(limited(8));
  auto w = e.make_decider();
  const std::vector<std::string> on_first = fill_first(e, w, "a", 8);
  CHECK(first_server(e.stats()).overloaded);
  end_call(e, on_first[0]);
  end_call(e, on_first[1]);  // 6: not below 6
  CHECK(first_server(e.stats()).overloaded);
  end_call(e, on_first[2]);  // 5
  CHECK_FALSE(first_server(e.stats()).overloaded);
}

TEST_CASE("the calls in progress of a server at its limit stay on it") {
  Engine e(limited(3));
  auto w = e.make_decider();
  const std::vector<std::string> on_first = fill_first(e, w, "a", 3);
  REQUIRE(first_server(e.stats()).overloaded);
  for (const std::string& id : on_first) {
    const Decision d = call(w, id, "BYE");
    CHECK(d.outcome == Outcome::placed);
    CHECK(d.template_hit);
    CHECK(d.mark == 1);
  }
  CHECK(first_server(e.stats()).live_templates == 3);
}

TEST_CASE("every scheduler passes over full servers and places no call once all are full") {
  for (const char* scheduler : {"rr", "wrr", "lc", "wlc", "sh", "mh"}) {
    CAPTURE(scheduler);
    EngineConfig c = limited(2, 0, scheduler);
    for (RealServerConfig& r : c.services[0].servers) r.max_calls = 2;
    Engine e(c);
    auto w = e.make_decider();
    for (int i = 0; i < 6; ++i) CHECK(call(w, "c" + std::to_string(i)).outcome == Outcome::placed);
    const EngineStats full = e.stats();
    for (const ServerStats& r : full.services[0].servers) {
      CHECK(r.live_templates == 2);
      CHECK(r.overloaded);
    }
    const Decision d = call(w, "one-too-many");
    CHECK(d.outcome == Outcome::no_server);
    CHECK(d.servers_full);
    CHECK(call(w, "c0", "BYE").outcome == Outcome::placed);  // calls in progress go on
    const ServiceStats s = e.stats().services[0];
    CHECK(s.no_server == 1);
    CHECK(s.servers_full == 1);
  }
}

TEST_CASE("no server taking calls at all is no_server, not servers_full") {
  EngineConfig c = limited(1);
  for (RealServerConfig& r : c.services[0].servers) r.weight = 0;
  Engine e(c);
  auto w = e.make_decider();
  const Decision d = call(w, "x");
  CHECK(d.outcome == Outcome::no_server);
  CHECK_FALSE(d.servers_full);
  CHECK(e.stats().services[0].no_server == 1);
  CHECK(e.stats().services[0].servers_full == 0);
}

TEST_CASE("a limit raised or removed ends an overload at once; one lowered below the calls starts one") {
  EngineConfig c = limited(2);
  Engine e(c);
  auto w = e.make_decider();
  fill_first(e, w, "a", 2);
  REQUIRE(first_server(e.stats()).overloaded);
  c.services[0].servers[0].max_calls = 3;  // as __ip_vs_update_dest
  REQUIRE_FALSE(e.apply(c));
  CHECK_FALSE(first_server(e.stats()).overloaded);
  c.services[0].servers[0].max_calls = 1;
  REQUIRE_FALSE(e.apply(c));
  CHECK(first_server(e.stats()).overloaded);
  CHECK(first_server(e.stats()).max_calls == 1);
  c.services[0].servers[0].max_calls = 0;
  REQUIRE_FALSE(e.apply(c));
  CHECK_FALSE(first_server(e.stats()).overloaded);
  CHECK(e.stats().schedulers_built == 1);  // limits are read live: no scheduler rebuilt
}

TEST_CASE("a peer's template is installed on a full server all the same, above its max_calls") {
  Engine a(limited(0)), b(limited(1));
  auto wa = a.make_decider();
  auto wb = b.make_decider();
  fill_first(b, wb, "b", 1);
  REQUIRE(first_server(b.stats()).overloaded);
  const std::vector<std::string> on_first = fill_first(a, wa, "a", 1);
  TemplateFilter f;
  f.pe_data = on_first[0];
  const std::vector<TemplateInfo> t = a.templates(f, 1000);
  REQUIRE(t.size() == 1);
  CHECK(b.install_change({false, t[0]}, 1000) == Installed::stored);
  CHECK(first_server(b.stats()).live_templates == 2);
  CHECK(first_server(b.stats()).overloaded);
  CHECK(call(wb, on_first[0], "BYE").mark == 1);
}

TEST_CASE("drained: weight 0 and no live templates left") {
  EngineConfig c = limited(0);
  Engine e(c);
  auto w = e.make_decider();
  CHECK_FALSE(first_server(e.stats()).drained);  // no calls, but it takes new ones
  const std::vector<std::string> on_first = fill_first(e, w, "a", 2);
  c.services[0].servers[0].weight = 0;
  REQUIRE_FALSE(e.apply(c));
  CHECK_FALSE(first_server(e.stats()).drained);  // its calls go on
  end_call(e, on_first[0]);
  CHECK_FALSE(first_server(e.stats()).drained);
  end_call(e, on_first[1]);
  CHECK(first_server(e.stats()).drained);
  c.services[0].servers[0].weight = 1;
  REQUIRE_FALSE(e.apply(c));
  CHECK_FALSE(first_server(e.stats()).drained);
}
