// forwarding: ipvs — desired fwmark services vs what IPVS has.
#include <doctest/doctest.h>

#include <algorithm>

#include "fwd_fixtures.hpp"

using namespace sipvsd::fwd;
using fwdtest::ip;
using fwdtest::three_servers;
using sipvsd::DaemonConfig;
using Kind = IpvsAction::Kind;

namespace {

struct Ipvs {
  std::vector<IpvsService> services;

  IpvsService* find(uint16_t family, uint32_t fwmark) {
    for (auto& s : services)
      if (s.family == family && s.fwmark == fwmark) return &s;
    return nullptr;
  }
  // What IPVS looks like after the plan; every action must make sense then.
  void apply(const IpvsPlan& p) {
    for (const IpvsAction& a : p.actions) {
      IpvsService* s = find(a.service.family, a.service.fwmark);
      switch (a.kind) {
        case Kind::add_service: {
          REQUIRE(s == nullptr);
          IpvsService n = a.service;
          n.dests.clear();
          n.flags |= kSvcHashed;  // as the kernel reports it
          services.push_back(n);
          break;
        }
        case Kind::set_service:
          REQUIRE(s);
          s->scheduler = a.service.scheduler;
          s->flags = a.service.flags | kSvcHashed;
          s->timeout = a.service.timeout;
          s->netmask = a.service.netmask;
          break;
        case Kind::delete_service:
          REQUIRE(s);
          services.erase(services.begin() + (s - services.data()));
          break;
        case Kind::add_dest:
          REQUIRE(s);
          s->dests.push_back(a.dest);
          break;
        case Kind::set_dest:
        case Kind::delete_dest: {
          REQUIRE(s);
          auto it = std::find_if(s->dests.begin(), s->dests.end(), [&](const IpvsDest& d) {
            return d.address == a.dest.address && d.port == a.dest.port;
          });
          REQUIRE(it != s->dests.end());
          if (a.kind == Kind::set_dest)
            *it = a.dest;
          else
            s->dests.erase(it);
          break;
        }
      }
    }
  }
  IpvsPlan plan(const DaemonConfig& c) const { return plan_ipvs(targets(c), c.mark_mask, services); }
  IpvsPlan converge(const DaemonConfig& c) {
    IpvsPlan p = plan(c);
    apply(p);
    CHECK(plan(c).actions.empty());
    return p;
  }
};

std::size_t count(const IpvsPlan& p, Kind k) {
  return static_cast<std::size_t>(
      std::count_if(p.actions.begin(), p.actions.end(), [&](const IpvsAction& a) { return a.kind == k; }));
}

IpvsService keepalived_service(uint32_t fwmark, uint32_t flags = 0) {
  IpvsService s;
  s.fwmark = fwmark;
  s.scheduler = "wlc";
  s.flags = flags | kSvcHashed;
  s.netmask = 0xffffffff;
  IpvsDest d;
  d.address = ip("198.18.9.9");
  d.forward = kFwdMasq;
  s.dests.push_back(d);
  return s;
}

}  // namespace

TEST_CASE("ipvs: an empty IPVS gets one one-packet rr fwmark service per real server") {
  Ipvs k;
  DaemonConfig c = three_servers("ipvs");
  c.engine.services[0].servers[1].weight = 0;  // quiesced in the engine, still 1 in IPVS
  const IpvsPlan p = k.converge(c);
  CHECK(count(p, Kind::add_service) == 3);
  CHECK(count(p, Kind::add_dest) == 3);
  REQUIRE(k.services.size() == 3);
  for (const IpvsService& s : k.services) {
    CHECK(s.family == kFamilyV4);
    CHECK(s.scheduler == "rr");
    CHECK((s.flags & ~kSvcHashed) == kSvcOnePacket);
    CHECK(s.netmask == 0xffffffff);
    REQUIRE(s.dests.size() == 1);
    CHECK(s.dests[0].forward == kFwdDirect);
    CHECK(s.dests[0].weight == 1);
    CHECK(s.dests[0].port == 5060);
  }
  CHECK(k.find(kFamilyV4, 2)->dests[0].address == ip("198.18.4.2"));
  CHECK(p.actions[0].describe() == "added service fwmark 0x1 (IPv4) rr one-packet");
  CHECK(p.actions[1].describe() == "added destination fwmark 0x1 -> 198.18.3.2 port 5060 dr weight 1");
  CHECK(k.plan(c).unchanged == 3);
}

TEST_CASE("ipvs: removing and adding real servers") {
  Ipvs k;
  DaemonConfig c = three_servers("ipvs");
  k.converge(c);
  auto& servers = c.engine.services[0].servers;
  servers.erase(servers.begin() + 1);  // mark 2
  IpvsPlan p = k.converge(c);
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].kind == Kind::delete_service);
  CHECK(p.actions[0].service.fwmark == 2);
  CHECK(k.find(kFamilyV4, 2) == nullptr);

  servers.push_back(fwdtest::server("198.18.6.2", 4, 1, sipvs::Forward::tun));
  p = k.converge(c);
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[0].kind == Kind::add_service);
  CHECK(p.actions[1].kind == Kind::add_dest);
  CHECK(k.find(kFamilyV4, 4)->dests[0].forward == kFwdTunnel);
}

TEST_CASE("ipvs: what differs is fixed, a service is never left empty") {
  Ipvs k;
  DaemonConfig c = three_servers("ipvs");
  k.converge(c);

  SUBCASE("scheduler or flags changed by hand") {
    k.find(kFamilyV4, 1)->scheduler = "wlc";
    k.find(kFamilyV4, 2)->flags = kSvcHashed | kSvcPersistent;
    const IpvsPlan p = k.converge(c);
    CHECK(count(p, Kind::set_service) == 2);
    CHECK(p.actions.size() == 2);
  }
  SUBCASE("forwarding method and weight") {
    c.engine.services[0].servers[0].forward = sipvs::Forward::tun;
    k.find(kFamilyV4, 2)->dests[0].weight = 0;  // quiesced by hand: IPVS would drop every packet
    const IpvsPlan p = k.converge(c);
    CHECK(count(p, Kind::set_dest) == 2);
    CHECK(k.find(kFamilyV4, 2)->dests[0].weight == 1);
  }
  SUBCASE("a real server's new address: the new destination first, then the old goes") {
    c.engine.services[0].servers[2].address = ip("198.18.5.3");
    const IpvsPlan p = k.converge(c);
    REQUIRE(p.actions.size() == 2);
    CHECK(p.actions[0].kind == Kind::add_dest);
    CHECK(p.actions[1].kind == Kind::delete_dest);
    CHECK(p.actions[1].dest.address == ip("198.18.5.2"));
  }
  SUBCASE("an extra destination added by hand goes") {
    IpvsDest extra;
    extra.address = ip("198.18.9.1");
    k.find(kFamilyV4, 3)->dests.push_back(extra);
    const IpvsPlan p = k.converge(c);
    REQUIRE(p.actions.size() == 1);
    CHECK(p.actions[0].kind == Kind::delete_dest);
  }
  SUBCASE("a real server that moves to IPv6 gets an IPv6 service; the IPv4 one goes") {
    c.engine.services[0].vip = ip("2001:2::100");
    for (auto& r : c.engine.services[0].servers) r.address = ip("2001:2::5");
    c.engine.services[0].servers[1].address = ip("2001:2::6");
    c.engine.services[0].servers[2].address = ip("2001:2::7");
    const IpvsPlan p = k.converge(c);
    CHECK(count(p, Kind::add_service) == 3);
    CHECK(count(p, Kind::delete_service) == 3);
    CHECK(k.find(kFamilyV6, 1)->netmask == 128);
  }
}

TEST_CASE("ipvs: services sipvsd does not own are never touched") {
  Ipvs k;
  IpvsService by_address;  // ipvsadm -A -u VIP2:5060 -p 60 -M 0.0.0.0 -o --pe sip
  by_address.protocol = 17;
  by_address.address = ip("198.18.2.102");
  by_address.port = 5060;
  by_address.scheduler = "rr";
  by_address.flags = kSvcPersistent | kSvcOnePacket | kSvcHashed;
  const IpvsService outside_mask = keepalived_service(0x100, kSvcOnePacket);  // mark_mask is 0xff
  const IpvsService no_one_packet = keepalived_service(0x20);                 // within the mask, not sipvsd's form
  k.services = {by_address, outside_mask, no_one_packet};
  DaemonConfig c = three_servers("ipvs");
  CHECK_FALSE(owns(by_address, c.mark_mask, targets(c)));
  CHECK_FALSE(owns(outside_mask, c.mark_mask, targets(c)));
  CHECK_FALSE(owns(no_one_packet, c.mark_mask, targets(c)));

  IpvsPlan p = k.converge(c);
  CHECK(p.actions.size() == 6);
  REQUIRE(p.problems.size() == 1);  // the one within the mask is worth a word
  CHECK(p.problems[0].find("fwmark 0x20") != std::string::npos);
  c.engine.services.clear();
  p = k.converge(c);
  CHECK(count(p, Kind::delete_service) == 3);
  REQUIRE(k.services.size() == 3);
  CHECK(k.services[1].dests[0].forward == kFwdMasq);  // untouched

  SUBCASE("a configured mark is sipvsd's whatever its form") {
    c = three_servers("ipvs");
    k.find(kFamilyV4, 0x20)->fwmark = 3;
    p = k.converge(c);
    CHECK(count(p, Kind::set_service) == 1);
    CHECK(count(p, Kind::delete_dest) == 1);  // 198.18.9.9 masq replaced by 198.18.5.2 dr
  }
}

TEST_CASE("ipvs: masq is refused, pointing to dr and tun") {
  DaemonConfig c = three_servers("ipvs");
  c.engine.services[0].servers[0].forward = sipvs::Forward::masq;
  try {
    plan_ipvs(targets(c), c.mark_mask, {});
    FAIL("masq accepted");
  } catch (const sipvsd::ForwardingError& e) {
    const std::string what = e.what();
    CHECK(what.find("replies would not be translated back") != std::string::npos);
    CHECK(what.find("-g") != std::string::npos);
    CHECK(what.find("-i") != std::string::npos);
  }
}
