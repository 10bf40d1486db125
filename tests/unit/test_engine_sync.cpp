// The table's side of template sync: what one engine logs, another installs
// by service and server identity, so that it places each call as the first
// did; never over a newer local template, never echoed back.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "engine/template_table.hpp"
#include "config_builder.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

// Two directors' configurations of one service: the second lists the
// servers in another order, with other marks; records name them by address.
EngineConfig director(bool second) {
  ServiceConfig s = test::sip_service();
  if (second) {
    s.name = "sip-b";
    std::reverse(s.servers.begin(), s.servers.end());
    for (auto& r : s.servers) r.mark += 10;
  }
  EngineConfig c;
  c.max_templates = 1000;
  c.services.push_back(s);
  return c;
}

std::vector<uint8_t> g_packet;

Decision in(Engine::Decider& w, const std::string& call_id, Seconds now, std::string_view method = "INVITE") {
  g_packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call_id, method));
  return w.decide(g_packet, 0, now);
}

std::vector<TemplateChangeInfo> drained(Engine& e, Seconds now) {
  std::vector<TemplateChangeInfo> out;
  e.drain_changes(out, 10000, now);
  return out;
}

}  // namespace

TEST_CASE("what one director decides, another installs and places the same way") {
  Engine a(director(false)), b(director(true));
  a.enable_change_log(1024);
  b.enable_change_log(1024);
  auto wa = a.make_decider();
  auto wb = b.make_decider();
  std::vector<std::string> servers;
  for (int i = 0; i < 30; ++i) servers.push_back(in(wa, "c" + std::to_string(i), 1000).server->address.to_string());
  const std::vector<TemplateChangeInfo> changes = drained(a, 1001);
  REQUIRE(changes.size() == 30);
  CHECK_FALSE(changes[0].erased);
  CHECK(changes[0].info.service == "sip");
  CHECK(changes[0].info.pe_name == "sip");
  CHECK(changes[0].info.expires_in == 59);
  for (const TemplateChangeInfo& c : changes) CHECK(b.install_change(c, 1001) == Installed::stored);
  CHECK(drained(b, 1001).empty());  // installed, not told back
  for (int i = 0; i < 30; ++i) {
    const Decision d = in(wb, "c" + std::to_string(i), 1002, "BYE");
    CHECK(d.template_hit);
    CHECK(d.server->address.to_string() == servers[i]);
  }
  CHECK(drained(a, 1002).empty());  // nothing new on the first
}

TEST_CASE("a template is told again only when half its timeout has passed since") {
  Engine a(director(false));
  a.enable_change_log(1024);
  auto w = a.make_decider();
  in(w, "c", 1000);
  CHECK(drained(a, 1000).size() == 1);
  in(w, "c", 1010, "ACK");
  in(w, "c", 1029, "BYE");
  CHECK(drained(a, 1029).empty());
  in(w, "c", 1030, "BYE");
  const auto again = drained(a, 1030);
  REQUIRE(again.size() == 1);
  CHECK(again[0].info.expires_in == 60);
}

TEST_CASE("never over a template that lives longer here; an older one is updated") {
  Engine a(director(false)), b(director(true));
  a.enable_change_log(1024);
  auto wa = a.make_decider();
  auto wb = b.make_decider();
  in(wa, "c", 1000);
  TemplateChangeInfo c = drained(a, 1000).at(0);
  const Decision local = in(wb, "c", 1020);  // b's own, fresher
  c.info.server = local.server->address == *IpAddress::parse("198.18.1.1") ? *IpAddress::parse("198.18.1.2")
                                                                           : *IpAddress::parse("198.18.1.1");
  CHECK(b.install_change(c, 1020) == Installed::kept_local);
  CHECK(in(wb, "c", 1021, "BYE").server->address == local.server->address);
  c.info.expires_in = 60;  // as of 1030: newer than b's, which expires at 1081
  CHECK(b.install_change(c, 1030) == Installed::stored);
  CHECK(in(wb, "c", 1031, "BYE").server->address == c.info.server);
}

TEST_CASE("erasures travel; what cannot be installed is told why") {
  Engine a(director(false)), b(director(true));
  a.enable_change_log(1024);
  auto wa = a.make_decider();
  in(wa, "c", 1000);
  in(wa, "d", 1000);
  const std::vector<TemplateChangeInfo> made = drained(a, 1000);
  for (const auto& c : made) REQUIRE(b.install_change(c, 1000) == Installed::stored);
  TemplateFilter only_c;
  only_c.pe_data = "c";
  CHECK(a.flush_templates(only_c) == 1);
  const std::vector<TemplateChangeInfo> erased = drained(a, 1001);
  REQUIRE(erased.size() == 1);
  CHECK(erased[0].erased);
  CHECK(b.install_change(erased[0], 1001) == Installed::erased);
  CHECK(b.install_change(erased[0], 1001) == Installed::absent);
  CHECK(b.template_count() == 1);

  TemplateChangeInfo c = made.at(0);
  c.info.vport = 5070;
  CHECK(b.install_change(c, 1001) == Installed::service_gone);
  c = made.at(0);
  c.info.server = *IpAddress::parse("198.18.1.9");
  CHECK(b.install_change(c, 1001) == Installed::server_gone);
  c = made.at(0);
  c.info.pe_name = "sip-header";
  CHECK(b.install_change(c, 1001) == Installed::unusable);
  c = made.at(0);
  c.info.expires_in = 0;
  CHECK(b.install_change(c, 1001) == Installed::unusable);
  // A server whose calls are being moved away takes none from a peer either.
  c = made.at(0);
  REQUIRE(b.set_server_health("sip-b", c.info.server, 0, ServerHealth::down_expiring) == HealthChange::changed);
  CHECK(b.install_change(c, 1001) == Installed::server_gone);
  CHECK(to_string(Installed::kept_local) == "kept_local");
}

TEST_CASE("servers removed or expiring: their templates' erasures are logged") {
  Engine a(director(false));
  a.enable_change_log(1024);
  auto w = a.make_decider();
  for (int i = 0; i < 9; ++i) in(w, "c" + std::to_string(i), 1000);
  drained(a, 1000);
  REQUIRE(a.set_server_health("sip", *IpAddress::parse("198.18.1.2"), 0, ServerHealth::down_expiring) ==
          HealthChange::changed);
  CHECK(drained(a, 1001).size() == 3);
  EngineConfig c = director(false);
  c.services[0].servers.erase(c.services[0].servers.begin());
  REQUIRE_FALSE(a.apply(c));
  const auto erased = drained(a, 1002);
  CHECK(erased.size() == 3);
  CHECK(std::ranges::all_of(erased, [](const TemplateChangeInfo& e) { return e.erased; }));
}

TEST_CASE("a full change log drops and counts; the template's next packet tries again") {
  Engine a(director(false));
  a.enable_change_log(4);
  auto w = a.make_decider();
  for (int i = 0; i < 10; ++i) in(w, "c" + std::to_string(i), 1000);
  CHECK(a.stats().changes_dropped == 6);
  CHECK(drained(a, 1000).size() == 4);
  for (int i = 4; i < 8; ++i) in(w, "c" + std::to_string(i), 1001, "BYE");
  CHECK(drained(a, 1001).size() == 4);
  CHECK_THROWS_AS(a.enable_change_log(4), std::logic_error);  // deciders exist
}

// This process's resident memory, from /proc/self/statm (in pages).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST_CASE("the change log's memory is taken as its rings are written, not for every decider slot up front") {
  // The daemon's default: kMaxDeciders rings of 65536 changes, 20 MB each
  // (640 MB in all) if every slot were built at once; two queues use two.
  Engine a(director(false));
  const std::size_t before = resident_bytes();
  a.enable_change_log(65536);
  auto w = a.make_decider();
  for (int i = 0; i < 100; ++i) in(w, "c" + std::to_string(i), 1000);
  CHECK(drained(a, 1000).size() == 100);
  CHECK(resident_bytes() - before < (32u << 20));
}

TEST_CASE("a bulk walk in small steps sees every template, even while the table grows") {
  EngineConfig c = director(false);
  c.max_templates = 100'000;
  Engine a(c);
  auto w = a.make_decider();
  for (int i = 0; i < 500; ++i) in(w, "c" + std::to_string(i), 1000);
  std::set<std::string> seen;
  std::vector<TemplateChangeInfo> out;
  Engine::WalkCursor cursor;
  int steps = 0, added = 0;
  while (!cursor.done() && steps < 100000) {
    a.walk_templates(cursor, 7, out, 1001);
    ++steps;
    if (added < 2000) in(w, "grow" + std::to_string(added++), 1001);  // shards double their buckets meanwhile
  }
  REQUIRE(cursor.done());
  for (const TemplateChangeInfo& c : out) {
    CHECK_FALSE(c.erased);
    seen.insert(c.info.pe_data);
  }
  for (int i = 0; i < 500; ++i) CHECK(seen.count("c" + std::to_string(i)) == 1);
  CHECK(steps > 10);
  // Expired templates are not walked.
  out.clear();
  cursor = {};
  while (!cursor.done()) a.walk_templates(cursor, 1000, out, 1000 + 61);
  CHECK(out.empty());
}

namespace {

// The daemon's eBPF fast path as the engine sees it (template_mirror.hpp).
struct FakeMirror final : TemplateMirror {
  std::map<std::string, uint32_t> copy_until;  // by Call-ID
  std::vector<std::string> stored_calls;       // "Call-ID server"
  uint32_t copy_expires(const Template& t) override {
    const auto it = copy_until.find(std::string(t.pe()));
    return it == copy_until.end() ? 0 : it->second;
  }
  void used(const Template&, const ServiceConfig&, const RealServerConfig&, unsigned) override {}
  void flush(unsigned) override {}
  void stored(const Template& t, const ServiceConfig&, const RealServerConfig& server) override {
    stored_calls.push_back(std::string(t.pe()) + " " + server.address.to_string());
    copy_until[std::string(t.pe())] = t.expires;
  }
  void erased(const Template& t) override { copy_until.erase(std::string(t.pe())); }
};

void expire_all(Engine& e, Seconds now) {
  for (int i = 0; i < 64; ++i) e.expire_step(now, 4096);
}

}  // namespace

TEST_CASE("with a fast path: a peer's templates are copied out, and calls only the copy sees are told to the peers") {
  Engine a(director(false)), b(director(true));
  a.enable_change_log(1024);
  b.enable_change_log(1024);
  FakeMirror ma, mb;
  a.set_template_mirror(&ma);
  b.set_template_mirror(&mb);
  auto wa = a.make_decider();
  const std::string server = in(wa, "kept", 1000).server->address.to_string();
  in(wa, "idle", 1000);
  for (const TemplateChangeInfo& c : drained(a, 1000)) CHECK(b.install_change(c, 1000) == Installed::stored);
  REQUIRE(mb.stored_calls.size() == 2);
  CHECK(mb.stored_calls[0] == "kept " + server);
  CHECK(mb.copy_until["kept"] == 1060);  // the copy expires with the template

  // From here on only a's fast path sees "kept": last at 1025. The peers
  // hear of it once half the timeout (60) has passed since they last did,
  // as they would have of those packets had they passed the engine.
  ma.copy_until["kept"] = 1025 + 60;
  expire_all(a, 1020);
  CHECK(drained(a, 1020).empty());  // not due yet
  expire_all(a, 1031);
  const std::vector<TemplateChangeInfo> told = drained(a, 1031);
  REQUIRE(told.size() == 1);  // "idle" has no use to tell
  CHECK_FALSE(told[0].erased);
  CHECK(told[0].info.pe_data == "kept");
  CHECK(told[0].info.expires_in == 54);
  CHECK(b.install_change(told[0], 1031) == Installed::stored);
  CHECK(mb.copy_until["kept"] == 1085);
  expire_all(a, 1040);
  CHECK(drained(a, 1040).empty());  // told once

  // Past 1061 the peers are due again; the copy saw nothing new: nothing to
  // tell. Both expire together, on time.
  expire_all(a, 1070);
  CHECK(drained(a, 1070).empty());
  CHECK(a.template_count() == 1);
  expire_all(a, 1086);
  expire_all(b, 1086);
  CHECK(a.template_count() == 0);
  CHECK(b.template_count() == 0);
}
