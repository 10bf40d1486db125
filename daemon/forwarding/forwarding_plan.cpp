// The pure half of forwarding: desired state from the configuration and the
// difference to what the kernel has. No netlink here (unit-tested).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "daemon/forwarding/forwarding.hpp"

namespace sipvsd::fwd {

namespace {

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

const char* family_name(uint16_t f) { return f == kFamilyV6 ? "IPv6" : "IPv4"; }

sipvs::IpAddress zero_address(uint8_t family) {
  sipvs::IpAddress a;
  a.family = family == kFamilyV6 ? sipvs::IpAddress::Family::v6 : sipvs::IpAddress::Family::v4;
  return a;
}

std::string method_name(uint32_t fwd) {
  switch (fwd) {
    case kFwdDirect: return "dr";
    case kFwdTunnel: return "tun";
    case kFwdMasq: return "masq";
    default: return "method " + std::to_string(fwd);
  }
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

}  // namespace

uint8_t family_of(const sipvs::IpAddress& a) { return a.is_v4() ? kFamilyV4 : kFamilyV6; }

std::vector<Target> targets(const DaemonConfig& config) {
  std::vector<Target> out;
  for (const auto& s : config.engine.services) {
    for (const auto& r : s.servers) {
      Target t;
      t.service = s.name;
      t.mark = r.mark;
      t.server = r.address;
      t.port = r.port ? r.port : s.port;
      if (!s.is_fwmark()) t.vip = s.vip;
      t.method = r.forward;
      out.push_back(std::move(t));
    }
  }
  std::sort(out.begin(), out.end(), [](const Target& a, const Target& b) { return a.mark < b.mark; });
  return out;
}

// ---- route ----

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
  RoutePlan plan;
  auto rule_for = [&](const Target& t, uint32_t slot) {
    Rule r;
    r.family = family_of(t.server);
    r.priority = o.priority_base + slot;
    r.mark = t.mark;
    r.mask = mark_mask;
    r.table = o.table_base + slot;
    r.protocol = kRouteProtocol;
    return r;
  };

  // 1. Slots: a target keeps the slot of an owned rule that already sends its
  // mark (same family, mask) to a table of ours at the matching priority.
  std::vector<std::optional<uint32_t>> slot(targets.size());
  std::set<uint32_t> used;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (const Rule& r : rules) {
      if (!owns(r, o) || !r.to_table) continue;
      const uint32_t s = r.table - o.table_base;
      if (r.family == family_of(targets[i].server) && r.mark == targets[i].mark && r.mask == mark_mask &&
          r.priority == o.priority_base + s && !used.count(s)) {
        slot[i] = s;
        used.insert(s);
        break;
      }
    }
  }
  // A target without its rule keeps the table that still holds its route
  // (its rule was deleted by hand: it comes back where it was).
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (slot[i]) continue;
    for (const Route& r : routes) {
      if (!owns(r, o)) continue;
      const uint32_t s = r.table - o.table_base;
      const Route w = wanted_route(targets[i], r.table);
      if (key_of(r) == key_of(w) && r.gateway == w.gateway && !used.count(s)) {
        bool rule_elsewhere = false;  // the table is another mark's
        for (const Rule& x : rules)
          if (owns(x, o) && x.table == r.table && x.mark != targets[i].mark) rule_elsewhere = true;
        if (rule_elsewhere) continue;
        slot[i] = s;
        used.insert(s);
        break;
      }
    }
  }
  // 2. New slots: the lowest that no rule of ours and no route of ours uses
  // (so a fresh table starts empty), else the lowest not taken this round.
  std::set<uint32_t> busy = used;
  for (const Rule& r : rules)
    if (owns(r, o)) busy.insert(r.table - o.table_base);
  for (const Route& r : routes)
    if (r.table >= o.table_base && r.table - o.table_base < kForwardingSlots) busy.insert(r.table - o.table_base);
  uint32_t next_free = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (slot[i]) continue;
    while (next_free < kForwardingSlots && busy.count(next_free)) ++next_free;
    uint32_t s = next_free;
    if (s >= kForwardingSlots) {  // every slot has something: reuse one not wanted this round
      s = 0;
      while (s < kForwardingSlots && used.count(s)) ++s;
    }
    if (s >= kForwardingSlots) {
      plan.problems.push_back("no free routing table for mark " + hex(targets[i].mark) + " (more than " +
                              std::to_string(kForwardingSlots) + " real servers)");
      continue;
    }
    slot[i] = s;
    used.insert(s);
    busy.insert(s);
  }

  // 3. Rules.
  std::vector<Rule> wanted_rules;
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (slot[i]) wanted_rules.push_back(rule_for(targets[i], *slot[i]));
  for (const Rule& w : wanted_rules) {
    if (std::find(rules.begin(), rules.end(), w) != rules.end())
      ++plan.unchanged;
    else
      plan.add_rules.push_back(w);
  }
  std::vector<Rule> seen;
  for (const Rule& r : rules) {
    if (!owns(r, o)) continue;
    const bool wanted = std::find(wanted_rules.begin(), wanted_rules.end(), r) != wanted_rules.end();
    const bool duplicate = std::find(seen.begin(), seen.end(), r) != seen.end();
    if (!wanted || duplicate) plan.delete_rules.push_back(r);
    seen.push_back(r);
  }

  // 4. Routes: one per target in its table; ours that are not wanted go.
  std::map<RouteKey, Route> wanted_routes;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (!slot[i]) continue;
    const Route w = wanted_route(targets[i], o.table_base + *slot[i]);
    wanted_routes.emplace(key_of(w), w);
  }
  std::set<RouteKey> present;
  for (const Route& r : routes) {
    const RouteKey k = key_of(r);
    auto it = wanted_routes.find(k);
    if (it == wanted_routes.end()) {
      if (owns(r, o)) plan.delete_routes.push_back(r);
      continue;
    }
    if (!owns(r, o)) {
      plan.problems.push_back("table " + std::to_string(r.table) + " holds a route that is not sipvsd's (" +
                              describe(r) + "): left alone, mark " + "traffic may not reach its real server");
      present.insert(k);
      continue;
    }
    if (present.count(k)) {  // a second route for the same prefix (other metric): one is enough
      plan.delete_routes.push_back(r);
      continue;
    }
    present.insert(k);
    if (r.gateway == it->second.gateway)
      ++plan.unchanged;
    else
      plan.put_routes.push_back(it->second);
  }
  for (const auto& [k, w] : wanted_routes)
    if (!present.count(k)) plan.put_routes.push_back(w);
  return plan;
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

// ---- ipvs ----

std::string describe(const IpvsService& s) {
  if (s.fwmark == 0)
    return std::string(s.protocol == 6 ? "tcp " : s.protocol == 17 ? "udp " : "proto ") + s.address.to_string() +
           ":" + std::to_string(s.port);
  std::string out = "fwmark " + hex(s.fwmark) + " (" + family_name(s.family) + ")";
  if (!s.scheduler.empty()) out += " " + s.scheduler;
  if (s.flags & kSvcOnePacket) out += " one-packet";
  if (s.flags & kSvcPersistent) out += " persistent " + std::to_string(s.timeout);
  return out;
}

std::string describe(const IpvsService& s, const IpvsDest& d) {
  std::string out = "fwmark " + hex(s.fwmark) + " -> " + d.address.to_string();
  if (d.port) out += " port " + std::to_string(d.port);
  return out + " " + method_name(d.forward) + " weight " + std::to_string(d.weight);
}

std::string IpvsAction::describe() const {
  switch (kind) {
    case Kind::add_service: return "added service " + fwd::describe(service);
    case Kind::set_service: return "changed service " + fwd::describe(service);
    case Kind::delete_service: return "removed service " + fwd::describe(service);
    case Kind::add_dest: return "added destination " + fwd::describe(service, dest);
    case Kind::set_dest: return "changed destination " + fwd::describe(service, dest);
    case Kind::delete_dest: return "removed destination " + fwd::describe(service, dest);
  }
  return "?";
}

IpvsService wanted_service(const Target& t) {
  if (t.method == sipvs::Forward::masq)
    throw ForwardingError("mark " + hex(t.mark) +
                          ": masq is not supported with one-packet fwmark services (no connection entry is "
                          "kept, so replies would not be translated back); use dr (-g) or tun (-i)");
  IpvsService s;
  s.family = family_of(t.server);
  s.fwmark = t.mark;
  s.scheduler = "rr";
  s.flags = kSvcOnePacket;
  s.timeout = kIpvsOwnerTimeout;
  s.netmask = s.family == kFamilyV6 ? 128 : 0xffffffff;
  IpvsDest d;
  d.address = t.server;
  d.port = t.port;
  d.forward = t.method == sipvs::Forward::tun ? kFwdTunnel : kFwdDirect;
  d.weight = 1;
  s.dests.push_back(d);
  return s;
}

bool owns(const IpvsService& s) {
  return s.fwmark != 0 && (s.flags & kSvcPersistent) == 0 && s.timeout == kIpvsOwnerTimeout;
}

IpvsPlan plan_ipvs(const std::vector<Target>& targets, const std::vector<IpvsService>& actual) {
  using Kind = IpvsAction::Kind;
  IpvsPlan plan;
  auto identity = [](const IpvsService& s) { return std::pair{s.family, s.fwmark}; };
  std::map<std::pair<uint16_t, uint32_t>, IpvsService> wanted;
  std::map<std::pair<uint16_t, uint32_t>, std::string> wanted_by;  // the service that needs it
  for (const Target& t : targets) {
    IpvsService w = wanted_service(t);
    wanted_by.emplace(identity(w), t.service);
    wanted.emplace(identity(w), std::move(w));
  }
  std::vector<IpvsAction> deletes;
  std::set<std::pair<uint16_t, uint32_t>> present;
  for (const IpvsService& a : actual) {
    auto it = wanted.find(identity(a));
    if (!owns(a)) {
      if (it != wanted.end()) {
        present.insert(identity(a));
        plan.conflicts.push_back("mark " + hex(a.fwmark) + " of service \"" + wanted_by[identity(a)] + "\"" +
                                 ": IPVS already has " + describe(a) +
                                 ", which sipvsd did not create; not taken over (remove it or change the mark)");
      }
      continue;
    }
    if (it == wanted.end()) {
      deletes.push_back({Kind::delete_service, a, {}});
      continue;
    }
    present.insert(identity(a));
    const IpvsService& w = it->second;
    const bool same = a.scheduler == w.scheduler && (a.flags & ~kSvcHashed) == w.flags;
    if (!same) plan.actions.push_back({Kind::set_service, w, {}});
    const IpvsDest& wd = w.dests.front();
    bool have = false;
    for (const IpvsDest& d : a.dests) {
      if (d.address == wd.address && d.port == wd.port) {
        have = true;
        if (d == wd) {
          if (same) ++plan.unchanged;
        } else {
          plan.actions.push_back({Kind::set_dest, w, wd});
        }
      } else {
        deletes.push_back({Kind::delete_dest, a, d});
      }
    }
    if (!have) plan.actions.push_back({Kind::add_dest, w, wd});
  }
  for (const auto& [id, w] : wanted) {
    if (present.count(id)) continue;
    plan.actions.push_back({Kind::add_service, w, {}});
    plan.actions.push_back({Kind::add_dest, w, w.dests.front()});
  }
  // The new destination first, then the old one goes: a service is never empty.
  plan.actions.insert(plan.actions.end(), deletes.begin(), deletes.end());
  return plan;
}

}  // namespace sipvsd::fwd
