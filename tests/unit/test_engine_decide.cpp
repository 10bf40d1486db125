#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

RealServerConfig server(std::string_view address, uint32_t mark, uint32_t weight = 1) {
  RealServerConfig r;
  r.address = *IpAddress::parse(address);
  r.port = 5060;
  r.weight = weight;
  r.mark = mark;
  return r;
}

ServiceConfig sip_service(std::string scheduler = "rr") {
  ServiceConfig s;
  s.name = "sip";
  s.vip = *IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = std::move(scheduler);
  s.persistence_timeout = 60;
  s.netmask = 0;  // -M 0.0.0.0: the client address does not matter
  s.one_packet = true;
  s.pe = "sip";
  s.servers = {server("198.18.1.1", 1), server("198.18.1.2", 2), server("198.18.1.3", 3)};
  return s;
}

EngineConfig config_with(ServiceConfig s) {
  EngineConfig c;
  c.services.push_back(std::move(s));
  return c;
}

Decision decide(Engine::Decider& w, std::string_view payload, Seconds now = 1000,
                std::string_view src = "198.18.0.1", uint16_t sport = 5060) {
  // Kept until the next call: a decision's pe_data points into its packet.
  static std::vector<uint8_t> packet;
  packet = test::udp_packet(src, sport, "198.18.2.100", 5060, payload);
  return w.decide(packet, 0, now);
}

// One service over 198.18.1.1, .2, ... (marks 1, 2, ...) with these weights,
// room for many calls.
EngineConfig weighted(std::string scheduler, const std::vector<uint32_t>& weights) {
  ServiceConfig s = sip_service(std::move(scheduler));
  s.servers.clear();
  for (const uint32_t w : weights) {
    const auto i = static_cast<uint32_t>(s.servers.size() + 1);
    s.servers.push_back(server("198.18.1." + std::to_string(i), i, w));
  }
  EngineConfig c = config_with(s);
  c.max_templates = 100000;
  return c;
}

// The marks of `n` new calls "<prefix>-<i>".
std::vector<uint32_t> place_calls(Engine::Decider& w, const std::string& prefix, int n) {
  std::vector<uint32_t> marks(n);
  for (int i = 0; i < n; ++i) marks[i] = decide(w, test::invite(prefix + "-" + std::to_string(i))).mark;
  return marks;
}

}  // namespace

TEST_CASE("every packet of one Call-ID gets the same mark; calls of one trunk spread") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  std::map<std::string, uint32_t> mark_of;
  std::map<uint32_t, int> calls_per_mark;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 30; ++i) {
      const std::string id = "call-" + std::to_string(i) + "@198.18.0.1";
      const char* method = round == 0 ? "INVITE" : round == 1 ? "ACK" : "BYE";
      Decision d = decide(w, test::invite(id, method));
      REQUIRE(d.outcome == Outcome::placed);
      CHECK(d.pe_used);
      CHECK(d.pe_data == id);
      CHECK(d.template_hit == (round > 0));
      if (round == 0) {
        mark_of[id] = d.mark;
        ++calls_per_mark[d.mark];
      } else {
        CHECK(d.mark == mark_of[id]);
      }
    }
  }
  CHECK(calls_per_mark == std::map<uint32_t, int>{{1, 10}, {2, 10}, {3, 10}});  // rr over one trunk
  CHECK(engine.template_count() == 30);
  const EngineStats s = engine.stats();
  CHECK(s.services.at(0).counters.packets == 90);
  CHECK(s.services.at(0).counters.templates_created == 30);
  CHECK(s.services.at(0).counters.pe_fallbacks == 0);
  CHECK(s.services.at(0).servers.at(0).live_templates == 10);
}

TEST_CASE("compact and odd-case Call-ID headers name the same call") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  const uint32_t m = decide(w, test::invite("abc@h")).mark;
  CHECK(decide(w, "BYE sip:x SIP/2.0\r\ni: abc@h\r\n\r\n").mark == m);
  CHECK(decide(w, "SIP/2.0 200 OK\r\ncALL-iD  :  abc@h  \r\n\r\n").mark == m);
  CHECK(decide(w, "ACK sip:x SIP/2.0\nCall-ID:\n abc@h\n\n").mark == m);
  CHECK(engine.template_count() == 1);
}

TEST_CASE("no Call-ID: fall back to plain persistence, counted by reason") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  Decision a = decide(w, "not sip at all");
  CHECK(a.outcome == Outcome::placed);
  CHECK_FALSE(a.pe_used);
  CHECK(a.pe_status == PeStatus::wrong_protocol);
  Decision b = decide(w, "OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n", 1000, "198.18.0.9");
  CHECK(b.pe_status == PeStatus::absent);
  CHECK(b.mark == a.mark);  // netmask 0: one fallback template for every client
  Decision c = decide(w, "INVITE sip:x SIP/2.0\r\nCall-ID: " + std::string(256, 'x') + "\r\n\r\n");
  CHECK(c.pe_status == PeStatus::too_long);
  CHECK(c.mark == a.mark);
  Decision d = decide(w, "INVITE sip:x SIP/2.0\r\nCall-ID: a\r\ni: b\r\n\r\n");
  CHECK(d.pe_status == PeStatus::conflicting);
  const ServiceStats s = engine.stats().services.at(0);
  CHECK(s.counters.pe_fallbacks == 4);
  CHECK(s.fallbacks_by_reason[static_cast<int>(PeStatus::wrong_protocol)] == 1);
  CHECK(s.fallbacks_by_reason[static_cast<int>(PeStatus::absent)] == 1);
  CHECK(s.fallbacks_by_reason[static_cast<int>(PeStatus::too_long)] == 1);
  CHECK(s.fallbacks_by_reason[static_cast<int>(PeStatus::conflicting)] == 1);
  CHECK(engine.template_count() == 1);
}

TEST_CASE("the persistence netmask groups clients in fallback templates") {
  ServiceConfig s = sip_service();
  s.netmask = 24;
  Engine engine(config_with(s));
  auto w = engine.make_decider();
  decide(w, "junk", 1000, "198.18.0.1");
  decide(w, "junk", 1000, "198.18.0.200");  // same /24
  decide(w, "junk", 1000, "198.18.5.1");    // another /24
  CHECK(engine.template_count() == 2);
}

TEST_CASE("packets that cannot be placed say why") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  auto other_port = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5070, test::invite("x"));
  CHECK(w.decide(other_port, 0, 1).outcome == Outcome::no_service);
  std::vector<uint8_t> truncated = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, "x");
  truncated.resize(10);
  Decision d = w.decide(truncated, 0, 1);
  CHECK(d.outcome == Outcome::bad_packet);
  CHECK(d.packet_status == PacketStatus::truncated);
  const EngineStats s = engine.stats();
  CHECK(s.no_service == 1);
  CHECK(s.bad_packets[static_cast<int>(PacketStatus::truncated)] == 1);
}

TEST_CASE("weight 0 keeps its calls and gets no new ones; removal moves its calls") {
  EngineConfig c = config_with(sip_service());
  Engine engine(c);
  auto w = engine.make_decider();
  std::map<std::string, uint32_t> mark_of;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "c" + std::to_string(i);
    mark_of[id] = decide(w, test::invite(id)).mark;
  }
  c.services[0].servers[0].weight = 0;  // quiesce mark 1
  REQUIRE_FALSE(engine.apply(c));
  w.refresh();
  for (auto& [id, mark] : mark_of) CHECK(decide(w, test::invite(id, "BYE")).mark == mark);
  for (int i = 0; i < 30; ++i) CHECK(decide(w, test::invite("new" + std::to_string(i))).mark != 1);
  CHECK(engine.stats().services[0].servers[0].live_templates == 10);

  c.services[0].servers.erase(c.services[0].servers.begin());  // remove mark 1
  REQUIRE_FALSE(engine.apply(c));
  w.refresh();
  CHECK(engine.template_count() == 50);  // its 10 templates are gone
  for (auto& [id, mark] : mark_of) {
    const uint32_t now_mark = decide(w, test::invite(id, "BYE")).mark;
    if (mark == 1)
      CHECK(now_mark != 1);
    else
      CHECK(now_mark == mark);  // calls on the other servers do not move
  }
}

TEST_CASE("a worker keeps its snapshot until refresh(): never a mix of configurations") {
  EngineConfig c = config_with(sip_service());
  Engine engine(c);
  auto w = engine.make_decider();
  c.services[0].servers = {server("198.18.1.9", 9)};
  REQUIRE_FALSE(engine.apply(c));
  CHECK(decide(w, test::invite("before-refresh")).mark != 9);
  w.refresh();
  CHECK(decide(w, test::invite("after-refresh")).mark == 9);
  // The first call's template named a server that is gone: rescheduled to 9.
  CHECK(decide(w, test::invite("before-refresh")).mark == 9);
}

TEST_CASE("templates expire after the persistence timeout") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  decide(w, test::invite("t1"), 1000);
  CHECK(decide(w, test::invite("t1"), 1059).template_hit);
  CHECK(decide(w, test::invite("t1"), 1118).template_hit);
  CHECK(decide(w, test::invite("t1"), 1178).template_created);
  CHECK(engine.templates({}, 1178).size() == 1);
  CHECK(engine.expire_step(1300, 1 << 20) == 1);
  CHECK(engine.template_count() == 0);
}

TEST_CASE("the cap bounds the table; established calls keep their server") {
  EngineConfig c = config_with(sip_service());
  c.max_templates = 100;
  Engine engine(c);
  auto w = engine.make_decider();
  std::map<std::string, uint32_t> first;
  for (int i = 0; i < 100; ++i) first["c" + std::to_string(i)] = decide(w, test::invite("c" + std::to_string(i))).mark;
  for (int i = 0; i < 5000; ++i) {
    Decision d = decide(w, test::invite("flood" + std::to_string(i)));
    CHECK(d.outcome == Outcome::placed);
    CHECK(d.table_full);
  }
  CHECK(engine.template_count() == 100);
  for (auto& [id, mark] : first) CHECK(decide(w, test::invite(id)).mark == mark);
  CHECK(engine.stats().table_full == 5000);
}

TEST_CASE("fwmark services match on the packet's mark; one-packet services keep no entries") {
  ServiceConfig fw;
  fw.name = "by-mark";
  fw.fwmark = 77;
  fw.scheduler = "rr";
  fw.one_packet = true;
  fw.servers = {server("198.18.1.1", 1), server("198.18.1.2", 2)};
  Engine engine(config_with(fw));
  auto w = engine.make_decider();
  auto p = test::udp_packet("198.18.0.1", 4000, "198.18.3.3", 9999, "hello");
  CHECK(w.decide(p, 0, 1).outcome == Outcome::no_service);
  std::set<uint32_t> marks;
  for (int i = 0; i < 4; ++i) marks.insert(w.decide(p, 77, 1).mark);
  CHECK(marks == std::set<uint32_t>{1, 2});
  CHECK(engine.template_count() == 0);
}

TEST_CASE("non-persistent services without one-packet keep a per-flow entry") {
  ServiceConfig s = sip_service();
  s.pe.clear();
  s.persistence_timeout = 0;
  s.one_packet = false;
  Engine engine(config_with(s));
  auto w = engine.make_decider();
  const uint32_t m1 = decide(w, "x", 10, "198.18.0.1", 1111).mark;
  CHECK(decide(w, "y", 11, "198.18.0.1", 1111).mark == m1);
  CHECK(decide(w, "z", 11, "198.18.0.1", 2222).template_created);
  CHECK(engine.template_count() == 2);
}

TEST_CASE("IPv6 services place by Call-ID too") {
  ServiceConfig s = sip_service();
  s.vip = *IpAddress::parse("2001:2::100");
  s.servers = {server("2001:2::1:1", 1), server("2001:2::1:2", 2)};
  Engine engine(config_with(s));
  auto w = engine.make_decider();
  auto p1 = test::udp_packet("2001:2::1", 5060, "2001:2::100", 5060, test::invite("v6-call"));
  auto p2 = test::udp_packet("2001:2::1", 5060, "2001:2::100", 5060, test::invite("v6-call", "BYE"));
  Decision a = w.decide(p1, 0, 1);
  REQUIRE(a.outcome == Outcome::placed);
  CHECK(w.decide(p2, 0, 1).mark == a.mark);
}

TEST_CASE("listing, flushing and restoring templates") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  for (int i = 0; i < 6; ++i) decide(w, test::invite("l" + std::to_string(i)), 1000);
  auto all = engine.templates({}, 1010);
  REQUIRE(all.size() == 6);
  CHECK(all[0].service == "sip");
  CHECK(all[0].pe_name == "sip");
  CHECK(all[0].expires_in == 50);
  CHECK(all[0].vip.to_string() == "198.18.2.100");
  CHECK(all[0].client.to_string() == "0.0.0.0");  // masked by -M 0.0.0.0

  TemplateFilter one;
  one.pe_data = "l3";
  auto l3 = engine.templates(one, 1010);
  REQUIRE(l3.size() == 1);
  TemplateFilter page;
  page.offset = 4;
  page.limit = 10;
  CHECK(engine.templates(page, 1010).size() == 2);

  TemplateFilter by_server;
  by_server.server = l3[0].server;
  const std::size_t on_that_server = engine.templates(by_server, 1010).size();
  CHECK(engine.flush_templates(by_server) == on_that_server);
  CHECK(engine.template_count() == 6 - on_that_server);

  // A restart: a new engine restores the saved templates and keeps the servers.
  Engine restarted(config_with(sip_service()));
  for (const TemplateInfo& t : all) CHECK(restarted.restore_template(t, 5000) == Restored::yes);
  auto w2 = restarted.make_decider();
  for (const TemplateInfo& t : all) {
    Decision d = decide(w2, test::invite(t.pe_data, "BYE"), 5001);
    CHECK(d.template_hit);
    CHECK(d.mark == t.mark);
  }

  // Each template that cannot come back says why.
  TemplateInfo t = all[0];
  CHECK(restarted.restore_template(t, 5000) == Restored::not_stored);  // the call is there already
  t.pe_data = "another-call";
  t.service = "gone";
  CHECK(restarted.restore_template(t, 5000) == Restored::service_gone);
  t.service = all[0].service;
  t.server_port = 5999;
  CHECK(restarted.restore_template(t, 5000) == Restored::server_gone);
  t.server_port = all[0].server_port;
  t.expires_in = 0;
  CHECK(restarted.restore_template(t, 5000) == Restored::unusable);
  t.expires_in = 30;
  CHECK(restarted.restore_template(t, 5000) == Restored::yes);
}

TEST_CASE("a server marked down gets no new calls; its calls move only if asked") {
  Engine engine(config_with(sip_service()));
  auto w = engine.make_decider();
  std::map<std::string, uint32_t> mark_of;
  for (int i = 0; i < 9; ++i) mark_of["d" + std::to_string(i)] = decide(w, test::invite("d" + std::to_string(i))).mark;
  const IpAddress rs1 = *IpAddress::parse("198.18.1.1");
  CHECK(engine.set_server_health("sip", rs1, 5060, ServerHealth::down) == HealthChange::changed);
  w.refresh();
  for (int i = 0; i < 9; ++i) CHECK(decide(w, test::invite("n" + std::to_string(i))).mark != 1);
  for (auto& [id, mark] : mark_of) CHECK(decide(w, test::invite(id)).mark == mark);  // kept
  CHECK(engine.set_server_health("sip", rs1, 5060, ServerHealth::down_expiring) == HealthChange::changed);
  for (auto& [id, mark] : mark_of) CHECK(decide(w, test::invite(id)).mark != 1);     // moved
  // Up again and down with its templates dropped in one call: the change
  // publishes a new snapshot while the call still needs the server's handle.
  CHECK(engine.set_server_health("sip", rs1, 5060, ServerHealth::up) == HealthChange::changed);
  {
    auto w2 = engine.make_decider();
    for (int i = 0; i < 30; ++i) decide(w2, test::invite("back" + std::to_string(i)));
  }
  w.refresh();
  CHECK(engine.set_server_health("sip", rs1, 5060, ServerHealth::up) == HealthChange::unchanged);  // no new snapshot
  CHECK(engine.stats().services[0].servers[0].live_templates > 0);
  // Only the engine holds the current snapshot now (w is one behind).
  EngineConfig same = engine.config();
  REQUIRE_FALSE(engine.apply(same));
  CHECK(engine.set_server_health("sip", rs1, 5060, ServerHealth::down_expiring) == HealthChange::changed);
  CHECK(engine.stats().services[0].servers[0].live_templates == 0);
  CHECK_FALSE(engine.stats().services[0].servers[0].up);
  CHECK(engine.set_server_health("nope", rs1, 5060, ServerHealth::down) == HealthChange::no_such_server);
}

TEST_CASE("no available server: outcome no_server, counted") {
  ServiceConfig s = sip_service();
  for (auto& r : s.servers) r.weight = 0;
  Engine engine(config_with(s));
  auto w = engine.make_decider();
  CHECK(decide(w, test::invite("x")).outcome == Outcome::no_server);
  CHECK(engine.stats().services[0].no_server == 1);
}

TEST_CASE("mh: removing one of five servers moves only its calls; survivors share evenly") {
  EngineConfig c = weighted("mh", {1, 1, 1, 1, 1});
  Engine engine(c);
  auto w = engine.make_decider();
  constexpr int kCalls = 20000;
  const std::vector<uint32_t> before = place_calls(w, "mh", kCalls);

  c.services[0].servers.erase(c.services[0].servers.begin() + 2);  // mark 3 goes
  REQUIRE_FALSE(engine.apply(c));
  w.refresh();
  int moved_from_others = 0, on_removed = 0;
  std::map<uint32_t, int> load;
  for (int i = 0; i < kCalls; ++i) {
    const uint32_t m = decide(w, test::invite("mh-" + std::to_string(i), "BYE")).mark;
    ++load[m];
    if (before[i] == 3)
      ++on_removed;
    else if (m != before[i])
      ++moved_from_others;
  }
  CHECK(moved_from_others == 0);
  // Only the removed server's share moved: about 1/5 of the calls.
  CHECK(on_removed <= kCalls * (1.0 / 5 + 0.02));
  CHECK(load.count(3) == 0);
  for (auto& [mark, n] : load) {
    CHECK(n >= kCalls / 4 * 0.9);
    CHECK(n <= kCalls / 4 * 1.1);
  }
  // New calls spread evenly over the four survivors too.
  std::map<uint32_t, int> fresh;
  for (const uint32_t m : place_calls(w, "new", kCalls)) ++fresh[m];
  for (auto& [mark, n] : fresh) {
    CHECK(n >= kCalls / 4 * 0.9);
    CHECK(n <= kCalls / 4 * 1.1);
  }
}

TEST_CASE("wrr, wlc: a server goes down; only its calls move, and survivors share by weight") {
  for (const char* scheduler : {"wrr", "wlc"}) {
    CAPTURE(scheduler);
    const std::vector<uint32_t> weights{1, 2, 3, 2};  // marks 1-4; mark 2 goes down
    Engine engine(weighted(scheduler, weights));
    auto w = engine.make_decider();
    constexpr int kCalls = 12000;
    const std::vector<uint32_t> before = place_calls(w, "w", kCalls);

    REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 5060, ServerHealth::down_expiring) == HealthChange::changed);  // on_down expire
    w.refresh();
    int moved_from_others = 0;
    std::map<uint32_t, int> load, moved;
    for (int i = 0; i < kCalls; ++i) {
      const uint32_t m = decide(w, test::invite("w-" + std::to_string(i), "BYE")).mark;
      ++load[m];
      if (before[i] == 2)
        ++moved[m];
      else if (m != before[i])
        ++moved_from_others;
    }
    CHECK(moved_from_others == 0);
    CHECK(load.count(2) == 0);
    // Survivors' weights 1:3:2 of 6: the calls in all, the moved ones, and new calls.
    std::map<uint32_t, int> fresh;
    for (const uint32_t m : place_calls(w, "new", kCalls)) ++fresh[m];
    int moved_total = 0;
    for (auto& [mark, n] : moved) moved_total += n;
    REQUIRE(moved_total > 0);
    for (uint32_t mark : {1u, 3u, 4u}) {
      CAPTURE(mark);
      const double share = weights[mark - 1] / 6.0;
      CHECK(load[mark] == doctest::Approx(kCalls * share).epsilon(0.1));
      CHECK(fresh[mark] == doctest::Approx(kCalls * share).epsilon(0.1));
      CHECK(moved[mark] == doctest::Approx(moved_total * share).epsilon(0.1));
    }
  }
}

TEST_CASE("per-source limit: a flooding source cannot fill the table, others are unaffected") {
  EngineConfig c = config_with(sip_service());
  c.max_new_templates_per_source = 50;
  Engine engine(c);
  auto w = engine.make_decider();
  int limited = 0;
  for (int i = 0; i < 500; ++i) {
    Decision d = decide(w, test::invite("flood-" + std::to_string(i)), 1000, "198.18.0.66");
    CHECK(d.outcome == Outcome::placed);  // still placed, just not remembered
    limited += d.rate_limited;
  }
  CHECK(limited == 450);
  CHECK(engine.template_count() == 50);
  CHECK(decide(w, test::invite("flood-7"), 1000, "198.18.0.66").template_hit);  // its first 50 keep affinity
  CHECK(decide(w, test::invite("other"), 1000, "198.18.0.1").template_created);  // another source
  CHECK(decide(w, test::invite("next-second"), 1001, "198.18.0.66").template_created);  // budget renews
  const EngineStats s = engine.stats();
  CHECK(s.rate_limited == 450);
  CHECK(s.services[0].rate_limited == 450);
}

TEST_CASE("max_templates of UINT64_MAX stores templates and reports its cap unwrapped") {
  EngineConfig c = config_with(sip_service());
  c.max_templates = UINT64_MAX;
  Engine engine(c);
  auto w = engine.make_decider();
  const Decision d = decide(w, test::invite("huge-cap"));
  CHECK(d.template_created);
  CHECK_FALSE(d.table_full);
  CHECK(engine.stats().templates_max == UINT64_MAX);
}

namespace {

// An IPv6 service with a per-source limit of 10 new templates a second.
EngineConfig v6_limited() {
  ServiceConfig s = sip_service();
  s.vip = *IpAddress::parse("2001:2::100");
  s.netmask = 128;
  s.servers = {server("2001:2::1:1", 1), server("2001:2::1:2", 2)};
  EngineConfig c = config_with(s);
  c.max_new_templates_per_source = 10;
  return c;
}

// New calls, one from each of `n` addresses "<prefix><i>"; how many got a template.
int created_from(Engine::Decider& w, const std::string& prefix, int n, const std::string& tag) {
  int created = 0;
  for (int i = 0; i < n; ++i) {
    const auto p = test::udp_packet(prefix + std::to_string(i + 1), 5060, "2001:2::100", 5060,
                                    test::invite(tag + std::to_string(i)));
    created += w.decide(p, 0, 1000).template_created;
  }
  return created;
}

}  // namespace

TEST_CASE("per-source limit: one IPv6 /64 is one source, whatever address each packet comes from") {
  Engine engine(v6_limited());
  auto w = engine.make_decider();
  CHECK(created_from(w, "2001:db8:0:1::", 100, "a") == 10);       // 100 addresses of one /64
  CHECK(created_from(w, "2001:db8:0:2::", 5, "b") == 5);          // another /64 has its own budget
  CHECK(created_from(w, "2001:db8:0:1:ffff::", 5, "c") == 0);     // the first /64 is spent
}

TEST_CASE("per-source limit: the prefixes that make a source are configurable") {
  EngineConfig c = v6_limited();
  c.per_source_prefix_v6 = 128;  // every address its own source
  Engine engine(c);
  auto w = engine.make_decider();
  CHECK(created_from(w, "2001:db8:0:1::", 30, "a") == 30);
  c.per_source_prefix_v6 = 48;
  REQUIRE_FALSE(engine.apply(c));
  w.refresh();
  CHECK(created_from(w, "2001:db8:0:2::", 8, "b") == 8);
  CHECK(created_from(w, "2001:db8:0:3::", 8, "c") == 2);  // one /48 with the /64 before it

  EngineConfig v4 = config_with(sip_service());
  v4.max_new_templates_per_source = 10;
  v4.per_source_prefix_v4 = 24;
  Engine by_24(v4);
  auto w4 = by_24.make_decider();
  int created = 0;
  for (int i = 1; i <= 30; ++i)
    created += decide(w4, test::invite("v4-" + std::to_string(i)), 1000, "198.18.0." + std::to_string(i))
                   .template_created;
  CHECK(created == 10);
  CHECK(decide(w4, test::invite("other-24"), 1000, "198.18.7.1").template_created);
}

TEST_CASE("a template's server is found by its slot, never in another service that reuses the slot") {
  ServiceConfig a = sip_service();
  a.servers = {server("198.18.1.1", 1), server("198.18.1.2", 2)};
  ServiceConfig b = sip_service();
  b.name = "other";
  b.vip = *IpAddress::parse("198.18.2.101");
  b.servers = {server("198.18.1.3", 3)};
  EngineConfig c = config_with(a);
  c.services.push_back(b);
  Engine engine(c);
  auto w = engine.make_decider();
  const auto call = [&](const std::string& id) {
    static std::vector<uint8_t> packet;
    packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(id));
    return w.decide(packet, 0, 1000);
  };
  const std::vector<uint32_t> before = {call("s0").mark, call("s1").mark};
  REQUIRE(before == std::vector<uint32_t>{1, 2});

  c.services[0].servers.erase(c.services[0].servers.begin());  // mark 1's slot is freed...
  REQUIRE_FALSE(engine.apply(c));
  c.services[1].servers.push_back(server("198.18.1.4", 4));  // ...and taken by the other service
  REQUIRE_FALSE(engine.apply(c));
  w.refresh();
  CHECK(call("s0").mark == 2);  // rescheduled within its own service
  CHECK(call("s1").mark == 2);
  for (const TemplateInfo& t : engine.templates({}, 1000)) {
    CHECK(t.service == "sip");
    CHECK(t.mark == 2);
  }
}

TEST_CASE("a health change rebuilds the scheduler of its own service only; an unrelated change none") {
  EngineConfig c = weighted("mh", {1, 1, 1});
  ServiceConfig other = c.services[0];
  other.name = "other";
  other.vip = *IpAddress::parse("198.18.2.101");
  for (RealServerConfig& r : other.servers) r.mark += 10;
  c.services.push_back(other);
  Engine engine(c);
  const uint64_t at_start = engine.stats().schedulers_built;
  CHECK(at_start == 2);
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 5060, ServerHealth::down) == HealthChange::changed);
  CHECK(engine.stats().schedulers_built == at_start + 1);
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 5060, ServerHealth::up) == HealthChange::changed);
  CHECK(engine.stats().schedulers_built == at_start + 2);
  c.udp_timeout = 60;  // touches no service's servers
  REQUIRE_FALSE(engine.apply(c));
  CHECK(engine.stats().schedulers_built == at_start + 2);
  c.services[1].servers[0].weight = 5;
  REQUIRE_FALSE(engine.apply(c));
  CHECK(engine.stats().schedulers_built == at_start + 3);
}

TEST_CASE("rr keeps its position across changes and health flaps, as IPVS does") {
  EngineConfig c = weighted("rr", {1, 1, 1});
  Engine engine(c);
  auto w = engine.make_decider();
  auto next_call = [&, n = 0]() mutable {
    w.refresh();
    return decide(w, test::invite("rr-" + std::to_string(n++))).mark;
  };
  const IpAddress third = *IpAddress::parse("198.18.1.3");
  CHECK(next_call() == 1);
  c.udp_timeout = 60;  // unrelated to the service's servers
  REQUIRE_FALSE(engine.apply(c));
  CHECK(next_call() == 2);
  REQUIRE(engine.set_server_health("sip", third, 5060, ServerHealth::down) == HealthChange::changed);  // another server's health
  CHECK(next_call() == 1);
  REQUIRE(engine.set_server_health("sip", third, 5060, ServerHealth::up) == HealthChange::changed);
  CHECK(next_call() == 2);
  CHECK(next_call() == 3);
  c.services[0].servers[0].weight = 2;  // a change to the service itself
  REQUIRE_FALSE(engine.apply(c));
  CHECK(next_call() == 1);
  CHECK(next_call() == 2);
  c.services[0].servers.erase(c.services[0].servers.begin() + 1);  // the server picked last goes
  REQUIRE_FALSE(engine.apply(c));
  CHECK(next_call() == 3);
}

// A worker decides with the snapshot of its last refresh(); a health change
// that comes between makes its scheduler pick a server that is now down.
TEST_CASE("on_down expire: a worker not yet refreshed keeps no template on the server that went down") {
  Engine engine(weighted("rr", {1, 1, 1}));
  auto w = engine.make_decider();
  const IpAddress first = *IpAddress::parse("198.18.1.1");
  REQUIRE(engine.set_server_health("sip", first, 5060, ServerHealth::down_expiring) == HealthChange::changed);
  const Decision stale = decide(w, test::invite("raced"));
  CHECK(stale.mark == 1);  // its snapshot's rr still has the server
  CHECK_FALSE(stale.template_created);
  CHECK(engine.template_count() == 0);
  w.refresh();
  const Decision next = decide(w, test::invite("raced"));
  CHECK(next.mark != 1);
  CHECK(next.template_created);
  CHECK(engine.stats().services[0].servers[0].live_templates == 0);
}

TEST_CASE("on_down keep: a worker not yet refreshed creates no template on the down server, keeps the old ones") {
  Engine engine(weighted("rr", {1, 1, 1}));
  auto w = engine.make_decider();
  REQUIRE(decide(w, test::invite("before")).mark == 1);
  REQUIRE(engine.set_server_health("sip", *IpAddress::parse("198.18.1.1"), 5060, ServerHealth::down) == HealthChange::changed);
  for (int i = 0; i < 3; ++i) decide(w, test::invite("after-" + std::to_string(i)));  // rr: 2, 3, 1
  CHECK(engine.stats().services[0].servers[0].live_templates == 1);
  CHECK(engine.template_count() == 3);
  w.refresh();
  CHECK(decide(w, test::invite("before")).mark == 1);  // kept
  CHECK(decide(w, test::invite("after-2")).mark != 1);
}
