#include "daemon/forwarding/route_plan.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace sipvsd::fwd {

namespace {

sipvs::IpAddress zero_address(uint8_t family) {
  sipvs::IpAddress a;
  a.family = family == kFamilyV6 ? sipvs::IpAddress::Family::v6 : sipvs::IpAddress::Family::v4;
  return a;
}

// The route a target needs in its table.
Route wanted_route(const Target& t, uint32_t table) {
  Route r;
  r.family = family_of(t.server);
  r.table = table;
  if (t.vip.family == sipvs::IpAddress::Family::none) {
    r.dst = zero_address(r.family);
    r.dst_len = 0;
  } else {
    r.dst = t.vip;
    r.dst_len = static_cast<uint8_t>(t.vip.max_prefix());
  }
  r.gateway = t.server;
  r.protocol = kRouteProtocol;
  return r;
}

// A route's identity in the kernel: family, table, destination prefix.
using RouteKey = std::tuple<uint8_t, uint32_t, std::array<uint8_t, 16>, uint8_t>;
RouteKey key_of(const Route& r) { return {r.family, r.table, r.dst.masked(r.dst_len).bytes, r.dst_len}; }

// One plan_routes call: the slot of each target first, then the rules and
// routes those slots need against what the kernel has.
class RoutePlanner {
 public:
  RoutePlanner(const std::vector<Target>& targets, uint32_t mark_mask, const ForwardingOptions& o,
               const std::vector<Rule>& rules, const std::vector<Route>& routes)
      : targets_(targets), mark_mask_(mark_mask), o_(o), rules_(rules), routes_(routes), slot_(targets.size()) {}

  RoutePlan plan() {
    keep_rule_slots();
    keep_route_slots();
    give_new_slots();
    plan_rules();
    plan_table_routes();
    return std::move(plan_);
  }

 private:
  Rule wanted_rule(const Target& t, uint32_t slot) const {
    Rule r;
    r.family = family_of(t.server);
    r.priority = o_.priority_base + slot;
    r.mark = t.mark;
    r.mask = mark_mask_;
    r.table = o_.table_base + slot;
    r.protocol = kRouteProtocol;
    return r;
  }

  void take(std::size_t target, uint32_t slot) {
    slot_[target] = slot;
    used_.insert(slot);
  }

  // A target keeps the slot of an owned rule that already sends its mark
  // (same family, mask) to a table of ours at the matching priority.
  void keep_rule_slots() {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      for (const Rule& r : rules_) {
        if (!owns(r, o_) || !r.to_table) continue;
        const uint32_t s = r.table - o_.table_base;
        if (r.family == family_of(targets_[i].server) && r.mark == targets_[i].mark && r.mask == mark_mask_ &&
            r.priority == o_.priority_base + s && !used_.count(s)) {
          take(i, s);
          break;
        }
      }
    }
  }

  // A target without its rule keeps the table that still holds its route
  // (its rule was deleted by hand: it comes back where it was).
  void keep_route_slots() {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (slot_[i]) continue;
      for (const Route& r : routes_) {
        if (!owns(r, o_)) continue;
        const uint32_t s = r.table - o_.table_base;
        const Route w = wanted_route(targets_[i], r.table);
        if (key_of(r) == key_of(w) && r.gateway == w.gateway && !used_.count(s) &&
            !table_of_other_mark(r.table, targets_[i].mark)) {
          take(i, s);
          break;
        }
      }
    }
  }

  bool table_of_other_mark(uint32_t table, uint32_t mark) const {
    return std::any_of(rules_.begin(), rules_.end(),
                       [&](const Rule& x) { return owns(x, o_) && x.table == table && x.mark != mark; });
  }

  // New slots: the lowest that no rule of ours and no route of ours uses (so
  // a fresh table starts empty), else the lowest not taken this round.
  void give_new_slots() {
    std::set<uint32_t> busy = used_;
    for (const Rule& r : rules_)
      if (owns(r, o_)) busy.insert(r.table - o_.table_base);
    for (const Route& r : routes_)
      if (r.table >= o_.table_base && r.table - o_.table_base < kForwardingSlots) busy.insert(r.table - o_.table_base);
    uint32_t next_free = 0;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (slot_[i]) continue;
      while (next_free < kForwardingSlots && busy.count(next_free)) ++next_free;
      uint32_t s = next_free;
      if (s >= kForwardingSlots) {  // every slot has something: reuse one not wanted this round
        s = 0;
        while (s < kForwardingSlots && used_.count(s)) ++s;
      }
      if (s >= kForwardingSlots) {
        plan_.problems.push_back("no free routing table for mark " + hex(targets_[i].mark) + " (more than " +
                                 std::to_string(kForwardingSlots) + " real servers)");
        continue;
      }
      take(i, s);
      busy.insert(s);
    }
  }

  void plan_rules() {
    std::vector<Rule> wanted;
    for (std::size_t i = 0; i < targets_.size(); ++i)
      if (slot_[i]) wanted.push_back(wanted_rule(targets_[i], *slot_[i]));
    for (const Rule& w : wanted) {
      if (std::find(rules_.begin(), rules_.end(), w) != rules_.end())
        ++plan_.unchanged;
      else
        plan_.add_rules.push_back(w);
    }
    std::vector<Rule> seen;
    for (const Rule& r : rules_) {
      if (!owns(r, o_)) continue;
      const bool is_wanted = std::find(wanted.begin(), wanted.end(), r) != wanted.end();
      const bool duplicate = std::find(seen.begin(), seen.end(), r) != seen.end();
      if (!is_wanted || duplicate) plan_.delete_rules.push_back(r);
      seen.push_back(r);
    }
  }

  // One route per target in its table; ours that are not wanted go.
  void plan_table_routes() {
    std::map<RouteKey, Route> wanted;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (!slot_[i]) continue;
      const Route w = wanted_route(targets_[i], o_.table_base + *slot_[i]);
      wanted.emplace(key_of(w), w);
    }
    std::set<RouteKey> present;
    for (const Route& r : routes_) {
      const RouteKey k = key_of(r);
      auto it = wanted.find(k);
      if (it == wanted.end()) {
        if (owns(r, o_)) plan_.delete_routes.push_back(r);
        continue;
      }
      if (!owns(r, o_)) {
        plan_.problems.push_back("table " + std::to_string(r.table) + " holds a route that is not sipvsd's (" +
                                 describe(r) + "): left alone, mark " + "traffic may not reach its real server");
        present.insert(k);
        continue;
      }
      if (present.count(k)) {  // a second route for the same prefix (other metric): one is enough
        plan_.delete_routes.push_back(r);
        continue;
      }
      present.insert(k);
      if (r.gateway == it->second.gateway)
        ++plan_.unchanged;
      else
        plan_.put_routes.push_back(it->second);
    }
    for (const auto& [k, w] : wanted)
      if (!present.count(k)) plan_.put_routes.push_back(w);
  }

  const std::vector<Target>& targets_;
  const uint32_t mark_mask_;
  const ForwardingOptions& o_;
  const std::vector<Rule>& rules_;
  const std::vector<Route>& routes_;
  std::vector<std::optional<uint32_t>> slot_;  // per target; none: no slot left
  std::set<uint32_t> used_;                    // slots taken this round
  RoutePlan plan_;
};

}  // namespace

std::string describe(const Rule& r) {
  std::string s = r.family == kFamilyV6 ? "ip -6 rule fwmark " : "ip rule fwmark ";
  s += hex(r.mark);
  if (r.mask != 0xffffffff) s += "/" + hex(r.mask);
  s += (r.to_table ? " lookup " : " (not lookup) ") + std::to_string(r.table) + " pref " + std::to_string(r.priority) +
       " proto " + std::to_string(r.protocol);
  return s;
}

std::string describe(const Route& r) {
  std::string s = r.family == kFamilyV6 ? "ip -6 route " : "ip route ";
  s += r.dst_len == 0 ? std::string("default") : r.dst.to_string() + "/" + std::to_string(r.dst_len);
  if (r.gateway.family != sipvs::IpAddress::Family::none) s += " via " + r.gateway.to_string();
  s += " table " + std::to_string(r.table) + " proto " + std::to_string(r.protocol);
  return s;
}

bool owns(const Rule& r, const ForwardingOptions& o) {
  return r.protocol == kRouteProtocol && r.priority >= o.priority_base &&
         r.priority - o.priority_base < kForwardingSlots && r.table >= o.table_base &&
         r.table - o.table_base < kForwardingSlots;
}

bool owns(const Route& r, const ForwardingOptions& o) {
  return r.protocol == kRouteProtocol && r.table >= o.table_base && r.table - o.table_base < kForwardingSlots;
}

RoutePlan plan_routes(const std::vector<Target>& targets, uint32_t mark_mask, const ForwardingOptions& o,
                      const std::vector<Rule>& rules, const std::vector<Route>& routes) {
  return RoutePlanner(targets, mark_mask, o, rules, routes).plan();
}

std::vector<uint32_t> route_tables(const std::vector<Target>& targets, const ForwardingOptions& o,
                                   const std::vector<Rule>& rules) {
  std::set<uint32_t> tables;
  std::size_t owned = 0;
  for (const Rule& r : rules) {
    if (!owns(r, o)) continue;
    tables.insert(r.table);
    ++owned;
  }
  const std::size_t lowest = std::min<std::size_t>(kForwardingSlots, targets.size() + owned + 1);
  for (std::size_t i = 0; i < lowest; ++i) tables.insert(o.table_base + static_cast<uint32_t>(i));
  return {tables.begin(), tables.end()};
}

}  // namespace sipvsd::fwd
