// forwarding: route — desired rules/routes vs what the kernel has.
#include <doctest/doctest.h>

#include <algorithm>

#include "fwd_fixtures.hpp"

using namespace sipvsd::fwd;
using fwdtest::ip;
using fwdtest::three_servers;
using sipvsd::DaemonConfig;
using sipvsd::ForwardingOptions;

namespace {

struct Kernel {
  std::vector<Rule> rules;
  std::vector<Route> routes;

  // What the kernel looks like after the plan was carried out.
  void apply(const RoutePlan& p) {
    for (const Route& r : p.put_routes) {
      auto same = [&](const Route& x) {
        return x.family == r.family && x.table == r.table && x.dst == r.dst && x.dst_len == r.dst_len;
      };
      routes.erase(std::remove_if(routes.begin(), routes.end(), same), routes.end());
      routes.push_back(r);
    }
    rules.insert(rules.end(), p.add_rules.begin(), p.add_rules.end());
    for (const Rule& r : p.delete_rules) {
      auto it = std::find(rules.begin(), rules.end(), r);
      REQUIRE(it != rules.end());
      rules.erase(it);
    }
    for (const Route& r : p.delete_routes) {
      auto it = std::find(routes.begin(), routes.end(), r);
      REQUIRE(it != routes.end());
      routes.erase(it);
    }
  }
  RoutePlan plan(const DaemonConfig& c) const {
    return plan_routes(targets(c), c.mark_mask, c.forwarding_options, rules, routes);
  }
  // Plans, applies, and checks that a second plan has nothing to do.
  RoutePlan converge(const DaemonConfig& c) {
    RoutePlan p = plan(c);
    apply(p);
    const RoutePlan again = plan(c);
    CHECK(again.empty());
    return p;
  }
  const Rule* rule_for(uint32_t mark) const {
    for (const Rule& r : rules)
      if (r.mark == mark && r.protocol == kRouteProtocol) return &r;
    return nullptr;
  }
};

Rule foreign_rule() {  // ip rule add fwmark 0x999 lookup 999 pref 500
  Rule r;
  r.priority = 500;
  r.mark = 0x999;
  r.table = 999;
  r.protocol = 0;  // untagged, as `ip rule add` makes it
  return r;
}

}  // namespace

TEST_CASE("targets: one per real server, sorted by mark, with the routed destination") {
  DaemonConfig c = three_servers();
  std::swap(c.engine.services[0].servers[0], c.engine.services[0].servers[2]);
  sipvs::ServiceConfig fw;
  fw.name = "by-mark";
  fw.fwmark = 0x40;
  fw.servers = {fwdtest::server("2001:2::7", 0x10, 0, sipvs::Forward::tun)};
  c.engine.services.push_back(fw);
  const auto t = targets(c);
  REQUIRE(t.size() == 4);
  CHECK(t[0].mark == 1);
  CHECK(t[0].server == ip("198.18.3.2"));
  CHECK(t[0].vip == ip("198.18.2.100"));
  CHECK(t[0].port == 5060);  // the service's port when the server has none
  CHECK(t[2].mark == 3);
  CHECK(t[3].mark == 0x10);
  CHECK(t[3].service == "by-mark");
  CHECK(t[3].vip.family == sipvs::IpAddress::Family::none);  // fwmark service: default route
  CHECK(t[3].method == sipvs::Forward::tun);
}

TEST_CASE("route: an empty kernel gets one rule and one table route per real server") {
  Kernel k;
  const DaemonConfig c = three_servers();
  const RoutePlan p = k.converge(c);
  REQUIRE(p.add_rules.size() == 3);
  REQUIRE(p.put_routes.size() == 3);
  CHECK(p.delete_rules.empty());
  CHECK(p.delete_routes.empty());
  for (uint32_t i = 0; i < 3; ++i) {
    const Rule& r = p.add_rules[i];
    CHECK(r.family == kFamilyV4);
    CHECK(r.mark == i + 1);
    CHECK(r.mask == 0xff);
    CHECK(r.table == 20000 + i);
    CHECK(r.priority == 20000 + i);
    CHECK(r.protocol == kRouteProtocol);
    CHECK(r.to_table);
  }
  const Route& rt = p.put_routes[1];
  CHECK(rt.table == 20001);
  CHECK(rt.dst == ip("198.18.2.100"));
  CHECK(rt.dst_len == 32);
  CHECK(rt.gateway == ip("198.18.4.2"));
  CHECK(rt.protocol == kRouteProtocol);
  CHECK(describe(p.add_rules[0]) == "ip rule fwmark 0x1/0xff lookup 20000 pref 20000 proto 245");
  CHECK(describe(rt) == "ip route 198.18.2.100/32 via 198.18.4.2 table 20001 proto 245");
  CHECK(k.plan(c).unchanged == 6);
}

TEST_CASE("route: removing a server removes its rule and route; the others keep their tables") {
  Kernel k;
  DaemonConfig c = three_servers();
  k.converge(c);
  c.engine.services[0].servers.erase(c.engine.services[0].servers.begin());  // mark 1, table 20000
  const RoutePlan p = k.converge(c);
  CHECK(p.add_rules.empty());
  CHECK(p.put_routes.empty());
  REQUIRE(p.delete_rules.size() == 1);
  CHECK(p.delete_rules[0].mark == 1);
  REQUIRE(p.delete_routes.size() == 1);
  CHECK(p.delete_routes[0].table == 20000);
  REQUIRE(k.rule_for(2));
  CHECK(k.rule_for(2)->table == 20001);
  CHECK(k.rule_for(3)->table == 20002);

  SUBCASE("a new server takes a free slot, not one in use") {
    c.engine.services[0].servers.push_back(fwdtest::server("198.18.6.2", 9));
    const RoutePlan q = k.converge(c);
    REQUIRE(q.add_rules.size() == 1);
    CHECK(q.add_rules[0].table == 20000);
    CHECK(q.delete_rules.empty());
    CHECK(k.rule_for(2)->table == 20001);
  }
}

TEST_CASE("route: rules and routes sipvsd does not own are never touched") {
  Kernel k;
  const ForwardingOptions o;
  Rule foreign = foreign_rule();
  Rule same_ranges_other_proto = foreign;  // in our ranges but not tagged: someone else's
  same_ranges_other_proto.priority = 20005;
  same_ranges_other_proto.table = 20005;
  same_ranges_other_proto.mark = 0x77;
  Rule tagged_outside_range = same_ranges_other_proto;  // tagged but outside the ranges
  tagged_outside_range.protocol = kRouteProtocol;
  tagged_outside_range.priority = 100;
  tagged_outside_range.table = 100;
  Route main_route;  // a route of ours... in a table that is not
  main_route.table = 254;
  main_route.dst = ip("198.18.2.100");
  main_route.dst_len = 32;
  main_route.gateway = ip("198.18.9.9");
  main_route.protocol = kRouteProtocol;
  Route foreign_route_in_range = main_route;
  foreign_route_in_range.table = 20007;
  foreign_route_in_range.protocol = 4;
  k.rules = {foreign, same_ranges_other_proto, tagged_outside_range};
  k.routes = {main_route, foreign_route_in_range};
  CHECK_FALSE(owns(foreign, o));
  CHECK_FALSE(owns(same_ranges_other_proto, o));
  CHECK_FALSE(owns(tagged_outside_range, o));
  CHECK_FALSE(owns(main_route, o));
  CHECK_FALSE(owns(foreign_route_in_range, o));

  DaemonConfig c = three_servers();
  RoutePlan p = k.converge(c);
  CHECK(p.delete_rules.empty());
  CHECK(p.delete_routes.empty());
  // New slots skip tables that hold someone's route or rule.
  for (const Rule& r : p.add_rules) {
    CHECK(r.table != 20005);
    CHECK(r.table != 20007);
  }
  c.engine.services.clear();  // sipvsd wants nothing: only its own go
  p = k.converge(c);
  CHECK(p.delete_rules.size() == 3);
  CHECK(p.delete_routes.size() == 3);
  CHECK(k.rules.size() == 3);
  CHECK(std::find(k.rules.begin(), k.rules.end(), foreign) != k.rules.end());
  CHECK(k.routes.size() == 2);
}

TEST_CASE("route: what differs is fixed") {
  Kernel k;
  DaemonConfig c = three_servers();
  k.converge(c);

  SUBCASE("a route with another gateway is replaced") {
    k.routes[0].gateway = ip("198.18.3.99");
    const RoutePlan p = k.plan(c);
    REQUIRE(p.put_routes.size() == 1);
    CHECK(p.put_routes[0].gateway == ip("198.18.3.2"));
    CHECK(p.add_rules.empty());
    CHECK(p.delete_routes.empty());
  }
  SUBCASE("a real server's new address moves its route, not its table") {
    c.engine.services[0].servers[1].address = ip("198.18.4.3");
    const RoutePlan p = k.converge(c);
    REQUIRE(p.put_routes.size() == 1);
    CHECK(p.put_routes[0].table == 20001);
    CHECK(p.put_routes[0].gateway == ip("198.18.4.3"));
  }
  SUBCASE("a deleted rule of ours comes back to the table that still holds its route") {
    k.rules.erase(k.rules.begin());  // mark 1, table 20000
    const RoutePlan p = k.converge(c);
    REQUIRE(p.add_rules.size() == 1);
    CHECK(p.add_rules[0].table == 20000);
    CHECK(p.add_rules[0].priority == 20000);
    CHECK(p.put_routes.empty());
    CHECK(p.delete_routes.empty());
  }
  SUBCASE("a deleted route of ours comes back") {
    k.routes.erase(k.routes.begin() + 2);
    const RoutePlan p = k.converge(c);
    CHECK(p.put_routes.size() == 1);
    CHECK(p.add_rules.empty());
  }
  SUBCASE("a new mark_mask replaces every rule, the new ones first") {
    c.mark_mask = 0xffff;
    const RoutePlan p = k.converge(c);
    CHECK(p.add_rules.size() == 3);
    CHECK(p.delete_rules.size() == 3);
    for (const Rule& r : p.add_rules) CHECK(r.mask == 0xffff);
    CHECK(k.rules.size() == 3);
  }
  SUBCASE("a duplicate of our own rule goes") {
    k.rules.push_back(k.rules[0]);
    const RoutePlan p = k.converge(c);
    CHECK(p.delete_rules.size() == 1);
    CHECK(k.rules.size() == 3);
  }
  SUBCASE("a stray route of ours in our table goes") {
    Route stray = k.routes[0];
    stray.dst = ip("198.18.2.101");
    k.routes.push_back(stray);
    const RoutePlan p = k.converge(c);
    CHECK(p.delete_routes.size() == 1);
  }
  SUBCASE("a route that is not ours, where ours should be, is reported and left") {
    k.routes[0].protocol = 4;
    const RoutePlan p = k.plan(c);
    CHECK(p.put_routes.empty());
    CHECK(p.delete_routes.empty());
    REQUIRE(p.problems.size() == 1);
    CHECK(p.problems[0].find("not sipvsd's") != std::string::npos);
  }
}

TEST_CASE("route: IPv6 and fwmark services") {
  Kernel k;
  DaemonConfig c;
  c.mark_mask = 0xffffffff;
  sipvs::ServiceConfig s6;
  s6.name = "sip6";
  s6.vip = ip("2001:2::100");
  s6.port = 5060;
  s6.servers = {fwdtest::server("2001:2:0:3::2", 5)};
  sipvs::ServiceConfig fw;
  fw.name = "fw";
  fw.fwmark = 0x40;
  fw.servers = {fwdtest::server("198.18.7.2", 6)};
  c.engine.services = {s6, fw};
  const RoutePlan p = k.converge(c);
  REQUIRE(p.add_rules.size() == 2);
  CHECK(p.add_rules[0].family == kFamilyV6);
  CHECK(p.add_rules[0].mask == 0xffffffff);
  CHECK(describe(p.add_rules[0]) == "ip -6 rule fwmark 0x5 lookup 20000 pref 20000 proto 245");
  REQUIRE(p.put_routes.size() == 2);
  const auto v6 = std::find_if(p.put_routes.begin(), p.put_routes.end(), [](const Route& r) { return r.family == kFamilyV6; });
  REQUIRE(v6 != p.put_routes.end());
  CHECK(v6->dst_len == 128);
  CHECK(describe(*v6) == "ip -6 route 2001:2::100/128 via 2001:2:0:3::2 table 20000 proto 245");
  const auto def = std::find_if(p.put_routes.begin(), p.put_routes.end(), [](const Route& r) { return r.family == kFamilyV4; });
  CHECK(def->dst_len == 0);
  CHECK(describe(*def) == "ip route default via 198.18.7.2 table 20001 proto 245");
}

TEST_CASE("route: other ranges are other owners") {
  Kernel k;
  DaemonConfig c = three_servers();
  k.converge(c);
  const auto before = k.rules;
  c.forwarding_options.table_base = 30000;
  c.forwarding_options.priority_base = 10000;
  // Under the new ranges the old rules are not sipvsd's: nothing is removed
  // (the controller calls remove_all with the old ranges first).
  const RoutePlan p = k.plan(c);
  CHECK(p.delete_rules.empty());
  CHECK(p.add_rules.size() == 3);
  CHECK(p.add_rules[0].table == 30000);
  CHECK(p.add_rules[0].priority == 10000);
}

TEST_CASE("route: the tables asked for are those of sipvsd's rules and the lowest slots, no other") {
  Kernel k;
  k.rules.push_back(foreign_rule());
  DaemonConfig c = three_servers();
  CHECK(route_tables(targets(c), c.forwarding_options, k.rules) == std::vector<uint32_t>{20000, 20001, 20002, 20003});
  k.converge(c);
  Rule far = *k.rule_for(2);  // a rule of sipvsd's high in its range
  far.priority = 20100;
  far.table = 20100;
  k.rules.push_back(far);
  const std::vector<uint32_t> tables = route_tables(targets(c), c.forwarding_options, k.rules);
  CHECK(tables == std::vector<uint32_t>{20000, 20001, 20002, 20003, 20004, 20005, 20006, 20007, 20100});
  CHECK(route_tables({}, c.forwarding_options, {}) == std::vector<uint32_t>{20000});
}
