// The health agreement among directors, without sockets: "local" acts on
// this director's probes alone; "shared" takes a server down when this
// director or any live peer sees it down and brings it back only when all of
// them see it up; peers name servers by identity, as template records do.
#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "../config_builder.hpp"
#include "daemon/health/server_health_agreement.hpp"
#include "daemon/sync/sync_records.hpp"

using namespace sipvs;
using sipvs::sync::ServerIdentity;
using sipvsd::ServerHealthAgreement;
using sipvsd::ServerHealthMode;

namespace {

// "sip" (198.18.2.100:5060, servers 198.18.1.1-3) and "marked" (fwmark 7,
// servers 198.18.1.1-2 without a port).
EngineConfig two_services() {
  EngineConfig c;
  c.services.push_back(test::sip_service("rr", 300));
  ServiceConfig marked;
  marked.name = "marked";
  marked.fwmark = 7;
  marked.scheduler = "rr";
  marked.persistence_timeout = 300;
  marked.pe = "sip";
  marked.servers = {test::real_server("198.18.1.1", 4), test::real_server("198.18.1.2", 5)};
  c.services.push_back(marked);
  return c;
}

const EngineConfig& config() {
  static const EngineConfig c = two_services();
  return c;
}

const ServiceConfig& service(std::string_view name) { return config().services[name == "sip" ? 0 : 1]; }

ServerIdentity id(std::string_view svc, std::size_t server) {
  return sync::server_identity(service(svc), service(svc).servers[server]);
}

ServerHealthAgreement::CheckedServer checked(std::string_view svc, std::size_t server,
                                             ServerHealth when_down = ServerHealth::down) {
  const RealServerConfig& r = service(svc).servers[server];
  return {service(svc).name, r.address, r.port, id(svc, server), when_down, false};
}

bool up(const Engine& e, std::string_view svc, std::size_t server) {
  for (const ServiceStats& s : e.stats().services)
    if (s.name == svc) return s.servers[server].up;
  FAIL("no such service");
  return false;
}

void local_view(ServerHealthAgreement& a, std::string_view svc, std::size_t server, bool down) {
  const RealServerConfig& r = service(svc).servers[server];
  a.local_view(service(svc).name, r.address, r.port, down);
}

// A template record for a call on `server`, named as directors name it.
TemplateChangeInfo record_on(const ServerIdentity& server, const std::string& call_id) {
  sync::SyncRecord r;
  r.protocol = server.protocol;
  r.vip = server.vip;
  r.vport = server.vport;
  r.fwmark = server.fwmark;
  r.client = *IpAddress::parse("198.18.0.1");
  r.server = server.server;
  r.server_port = server.port;
  r.timeout = 300;
  r.pe_name = "sip";
  r.pe_data = call_id;
  return sipvsd::to_change(r);
}

std::size_t templates_on(const Engine& e, std::string_view svc, std::size_t server) {
  TemplateFilter f;
  f.service = std::string(svc);
  f.server = service(svc).servers[server].address;
  return e.templates(f, monotonic_seconds()).size();
}

}  // namespace

TEST_CASE("a server's identity is the one template records name it by, with a VIP or a fwmark") {
  Engine e(config());
  CHECK(id("sip", 1) == ServerIdentity{17, *IpAddress::parse("198.18.2.100"), 5060, 0,
                                       *IpAddress::parse("198.18.1.2"), 5060});
  CHECK(id("marked", 1) == ServerIdentity{0, {}, 0, 7, *IpAddress::parse("198.18.1.2"), 0});
  CHECK(e.install_change(record_on(id("sip", 1), "a"), monotonic_seconds()) == Installed::stored);
  CHECK(e.install_change(record_on(id("marked", 1), "b"), monotonic_seconds()) == Installed::stored);
  CHECK(templates_on(e, "sip", 1) == 1);
  CHECK(templates_on(e, "marked", 1) == 1);
}

TEST_CASE("local: this director's probes alone decide; its peers' views change nothing") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::local);
  CHECK_FALSE(a.shared());
  a.checked({checked("sip", 0), checked("sip", 1)});
  const std::vector<ServerIdentity> down{id("sip", 0)};
  a.peer_view(2, down);
  CHECK(up(e, "sip", 0));
  CHECK(a.peers_seeing_down("sip", service("sip").servers[0].address, 0).empty());
  local_view(a, "sip", 1, true);
  CHECK_FALSE(up(e, "sip", 1));
  CHECK(a.local_down() == std::vector<ServerIdentity>{id("sip", 1)});
  local_view(a, "sip", 1, false);
  CHECK(up(e, "sip", 1));
}

TEST_CASE("shared: down when any director sees it down, up again only when every one sees it up") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::shared);
  a.checked({checked("sip", 0), checked("sip", 1)});
  const std::vector<ServerIdentity> first{id("sip", 0)}, both{id("sip", 0), id("sip", 1)}, none;
  a.peer_view(2, first);
  CHECK_FALSE(up(e, "sip", 0));
  CHECK(up(e, "sip", 1));
  CHECK(a.peers_seeing_down("sip", service("sip").servers[0].address, 0) == std::vector<uint64_t>{2});
  CHECK(a.local_down().empty());  // what the peers see is not announced: views never echo

  local_view(a, "sip", 0, true);
  a.peer_view(2, none);
  CHECK_FALSE(up(e, "sip", 0));  // this director still sees it down
  local_view(a, "sip", 0, false);
  CHECK(up(e, "sip", 0));

  a.peer_view(2, both);
  a.peer_view(3, both);
  a.peer_view(2, none);
  CHECK_FALSE(up(e, "sip", 1));  // director 3 still sees it down
  CHECK(a.peers_seeing_down("sip", service("sip").servers[1].address, 0) == std::vector<uint64_t>{3});
  a.peer_view(3, none);
  CHECK(up(e, "sip", 0));
  CHECK(up(e, "sip", 1));
}

TEST_CASE("shared: a peer that goes silent counts no more") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::shared);
  a.checked({checked("sip", 0)});
  const std::vector<ServerIdentity> down{id("sip", 0)};
  a.peer_view(2, down);
  REQUIRE_FALSE(up(e, "sip", 0));
  a.forget_peer(2);
  CHECK(up(e, "sip", 0));
  CHECK(a.peers_seeing_down("sip", service("sip").servers[0].address, 0).empty());
}

TEST_CASE("shared: only the servers this director checks take part, each known by its identity") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::shared);
  a.checked({checked("sip", 0), checked("marked", 1)});
  ServerIdentity other_port = id("sip", 0);
  other_port.port = 5070;
  ServerIdentity other_vip = id("sip", 0);
  other_vip.vip = *IpAddress::parse("198.18.2.101");
  const std::vector<ServerIdentity> seen{id("sip", 2), other_port, other_vip, id("marked", 0)};
  a.peer_view(2, seen);
  CHECK(up(e, "sip", 2));    // not checked here
  CHECK(up(e, "sip", 0));    // another server at that address
  CHECK(up(e, "marked", 0)); // not checked here
  CHECK(up(e, "marked", 1));
  const std::vector<ServerIdentity> marked{id("marked", 1)};
  a.peer_view(2, marked);
  CHECK_FALSE(up(e, "marked", 1));
  CHECK(up(e, "sip", 1));  // the same address in the other service
}

TEST_CASE("shared: on_down expire drops the templates; a server no longer checked is up again") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::shared);
  a.checked({checked("sip", 1, ServerHealth::down_expiring), checked("sip", 2)});
  REQUIRE(e.install_change(record_on(id("sip", 1), "call-1"), monotonic_seconds()) == Installed::stored);
  REQUIRE(e.install_change(record_on(id("sip", 2), "call-2"), monotonic_seconds()) == Installed::stored);
  const std::vector<ServerIdentity> down{id("sip", 1), id("sip", 2)};
  a.peer_view(2, down);
  CHECK_FALSE(up(e, "sip", 1));
  CHECK(templates_on(e, "sip", 1) == 0);
  CHECK(templates_on(e, "sip", 2) == 1);  // on_down keep
  a.checked({checked("sip", 1, ServerHealth::down_expiring)});
  CHECK(up(e, "sip", 2));
  CHECK_FALSE(up(e, "sip", 1));
}

TEST_CASE("the local view to announce: in identity order, its change count moving with it alone") {
  Engine e(config());
  ServerHealthAgreement a(e, ServerHealthMode::shared);
  a.checked({checked("sip", 0), checked("sip", 1), checked("marked", 0)});
  const uint64_t before = a.local_changes();
  local_view(a, "sip", 1, true);
  local_view(a, "marked", 0, true);
  local_view(a, "sip", 0, true);
  CHECK(a.local_changes() == before + 3);
  CHECK(a.local_down() == std::vector<ServerIdentity>{id("sip", 0), id("sip", 1), id("marked", 0)});
  local_view(a, "sip", 0, true);  // no change
  const std::vector<ServerIdentity> none;
  a.peer_view(2, none);
  CHECK(a.local_changes() == before + 3);
  // A server that is no longer checked leaves the list it was down in.
  a.checked({checked("sip", 0), checked("marked", 0)});
  CHECK(a.local_changes() == before + 4);
  CHECK(a.local_down().empty());  // the checker says what it sees of those it keeps
}
