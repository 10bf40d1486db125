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
  IpvsPlan plan(const DaemonConfig& c) const { return plan_ipvs(targets(c), services); }
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
    CHECK(s.timeout == kIpvsOwnerTimeout);  // the owner tag
    CHECK(owns(s));
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

  SUBCASE("scheduler or flags changed through netlink, keeping the tag") {
    k.find(kFamilyV4, 1)->scheduler = "wlc";
    k.find(kFamilyV4, 2)->flags = kSvcHashed;
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

// What `ipvsadm -Sn` shows for the services of others; none may change.
std::vector<IpvsService> foreign_services() {
  IpvsService by_address;  // ipvsadm -A -u VIP2:5060 -p 60 -M 0.0.0.0 -o --pe sip
  by_address.protocol = 17;
  by_address.address = ip("198.18.2.102");
  by_address.port = 5060;
  by_address.scheduler = "rr";
  by_address.flags = kSvcPersistent | kSvcOnePacket | kSvcHashed;
  by_address.timeout = 60;
  IpvsService sip_pe = keepalived_service(1, kSvcPersistent | kSvcOnePacket);  // -f 1 -s rr -p 60 -o --pe sip
  sip_pe.scheduler = "rr";
  sip_pe.timeout = 60;
  IpvsService dns = keepalived_service(10, kSvcOnePacket);  // -f 10 -o (UDP DNS), inside any mask
  IpvsService rr_one_packet = keepalived_service(11, kSvcOnePacket);  // -f 11 -s rr -o: sipvsd's old form
  rr_one_packet.scheduler = "rr";
  rr_one_packet.dests[0].forward = kFwdDirect;
  IpvsService v6 = keepalived_service(5, kSvcOnePacket);  // IPv6 -f 5; sipvsd has IPv4 mark 5
  v6.family = kFamilyV6;
  v6.netmask = 128;
  v6.dests[0].address = ip("2001:2::9");
  IpvsService persistent_245 = keepalived_service(12, kSvcPersistent);  // -p 245: the tag's number, persistent
  persistent_245.timeout = kIpvsOwnerTimeout;
  return {by_address, sip_pe, dns, rr_one_packet, v6, persistent_245};
}

std::size_t count_equal(const std::vector<IpvsService>& have, const std::vector<IpvsService>& want) {
  std::size_t n = 0;
  for (const IpvsService& w : want)
    for (const IpvsService& h : have)
      if (h.family == w.family && h.fwmark == w.fwmark && h.protocol == w.protocol && h.address == w.address &&
          h.port == w.port && h.scheduler == w.scheduler && h.flags == w.flags && h.timeout == w.timeout &&
          h.netmask == w.netmask && h.dests == w.dests)
        ++n;
  return n;
}

TEST_CASE("ipvs: services sipvsd did not create are never touched, whatever their mark or form") {
  Ipvs k;
  const std::vector<IpvsService> foreign = foreign_services();
  k.services = foreign;
  for (const IpvsService& s : foreign) CHECK_FALSE(owns(s));

  DaemonConfig c = three_servers("ipvs");
  c.mark_mask = 0xffffffff;  // every fwmark within the mask
  c.engine.services[0].servers[0].mark = 4;  // 1 is taken (next test case)
  c.engine.services[0].servers.push_back(fwdtest::server("198.18.6.2", 5));
  IpvsPlan p = k.converge(c);
  CHECK(p.conflicts.empty());
  CHECK(count(p, Kind::add_service) == 4);  // 2, 3, 4 and IPv4 5 beside the foreign IPv6 5
  CHECK(count(p, Kind::delete_service) == 0);
  REQUIRE(k.find(kFamilyV4, 5));
  CHECK(owns(*k.find(kFamilyV4, 5)));
  CHECK(count_equal(k.services, foreign) == foreign.size());

  SUBCASE("reloads with other marks, then nothing: only sipvsd's services go") {
    c.engine.services[0].servers.resize(1);
    p = k.converge(c);
    CHECK(count(p, Kind::delete_service) == 3);
    c.engine.services.clear();
    p = k.converge(c);
    CHECK(count(p, Kind::delete_service) == 1);
    CHECK(count_equal(k.services, foreign) == foreign.size());
    CHECK(k.services.size() == foreign.size());
  }
}

TEST_CASE("ipvs: a fwmark held by a service of someone else is a conflict, not taken over") {
  Ipvs k;
  k.services = foreign_services();  // holds IPv4 fwmarks 1, 10, 11, 12
  DaemonConfig c = three_servers("ipvs");
  c.engine.services[0].servers.push_back(fwdtest::server("198.18.6.2", 11));
  const std::vector<IpvsService> before = k.services;
  const IpvsPlan p = k.converge(c);
  for (const IpvsAction& a : p.actions) CHECK((a.service.fwmark == 2 || a.service.fwmark == 3));
  CHECK(count_equal(k.services, before) == before.size());
  REQUIRE(p.conflicts.size() == 2);
  CHECK(p.conflicts[0] ==
        "mark 0x1 of service \"sip\": IPVS already has fwmark 0x1 (IPv4) rr one-packet persistent 60, which sipvsd "
        "did not create; not taken over (remove it or change the mark)");
  CHECK(p.conflicts[1].find("mark 0xb of service \"sip\": IPVS already has fwmark 0xb (IPv4) rr one-packet") == 0);

  SUBCASE("once the operator removes it, sipvsd creates its own") {
    k.services.erase(k.services.begin() + 1);  // fwmark 1
    const IpvsPlan q = k.converge(c);
    CHECK(count(q, Kind::add_service) == 1);
    CHECK(q.conflicts.size() == 1);
    CHECK(owns(*k.find(kFamilyV4, 1)));
  }
}

TEST_CASE("ipvs: masq is refused, pointing to dr and tun") {
  DaemonConfig c = three_servers("ipvs");
  c.engine.services[0].servers[0].forward = sipvs::Forward::masq;
  try {
    plan_ipvs(targets(c), {});
    FAIL("masq accepted");
  } catch (const sipvsd::ForwardingError& e) {
    const std::string what = e.what();
    CHECK(what.find("replies would not be translated back") != std::string::npos);
    CHECK(what.find("-g") != std::string::npos);
    CHECK(what.find("-i") != std::string::npos);
  }
}
