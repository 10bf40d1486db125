#pragma once
// forwarding: route, the plan — the rules and routes the targets need, and
// the difference to what the kernel has. Pure (no netlink), unit-tested.
// sipvsd owns only the rules whose priority AND table are in its ranges AND
// that carry its protocol tag (kRouteProtocol), and the routes with that tag
// in its tables; nothing else is ever changed.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/config/config_file.hpp"
#include "daemon/forwarding/targets.hpp"

namespace sipvsd::fwd {

// sipvsd's tag on its rules (FRA_PROTOCOL) and routes (rtm_protocol). Not in
// iproute2's rt_protos list; `ip rule`/`ip route` show it as "proto 245".
inline constexpr uint8_t kRouteProtocol = 245;

struct Rule {
  uint8_t family = kFamilyV4;
  uint32_t priority = 0, mark = 0, mask = 0xffffffff, table = 0;
  uint8_t protocol = 0;
  bool to_table = true;  // action FR_ACT_TO_TBL ("lookup")
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Route {
  uint8_t family = kFamilyV4;
  uint32_t table = 0;
  sipvs::IpAddress dst;  // family set even for a default route (all zero, dst_len 0)
  uint8_t dst_len = 0;
  sipvs::IpAddress gateway;  // family none: no gateway
  uint8_t protocol = 0;
  uint32_t metric = 0;      // as dumped (IPv6 routes get 1024); used to delete
  friend bool operator==(const Route&, const Route&) = default;
};

std::string describe(const Rule& r);   // "ip rule fwmark 0x1/0xff lookup 20000 pref 20000 proto 245"
std::string describe(const Route& r);  // "ip route 198.18.2.100/32 via 198.18.3.2 table 20000 proto 245"

bool owns(const Rule& r, const ForwardingOptions& o);
bool owns(const Route& r, const ForwardingOptions& o);

struct RoutePlan {
  std::vector<Rule> add_rules, delete_rules;
  std::vector<Route> put_routes, delete_routes;  // put = create or replace
  std::size_t unchanged = 0;
  std::vector<std::string> problems;
  bool empty() const {
    return add_rules.empty() && delete_rules.empty() && put_routes.empty() && delete_routes.empty();
  }
};

// Desired vs actual. Each target gets a slot i (table table_base+i, rule
// priority priority_base+i); a mark keeps the slot its rule has in the kernel
// so that unrelated changes never move it. Apply in this order: put routes,
// add rules, delete rules, delete routes (no moment without a route for a
// mark that keeps one).
RoutePlan plan_routes(const std::vector<Target>& targets, uint32_t mark_mask, const ForwardingOptions& options,
                      const std::vector<Rule>& rules, const std::vector<Route>& routes);

// The tables whose routes plan_routes needs, asked for one by one (the kernel
// filters a dump by one table, not by a range): those of sipvsd's rules, and
// the lowest slots, enough for every target and rule (slots are handed out
// lowest first, so sipvsd's routes sit there). Sorted.
std::vector<uint32_t> route_tables(const std::vector<Target>& targets, const ForwardingOptions& options,
                                   const std::vector<Rule>& rules);

}  // namespace sipvsd::fwd
