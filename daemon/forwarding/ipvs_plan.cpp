#include "daemon/forwarding/ipvs_plan.hpp"

#include <map>
#include <set>
#include <utility>

namespace sipvsd::fwd {

namespace {

const char* family_name(uint16_t f) { return f == kFamilyV6 ? "IPv6" : "IPv4"; }

std::string method_name(uint32_t fwd) {
  switch (fwd) {
    case kFwdDirect: return "dr";
    case kFwdTunnel: return "tun";
    case kFwdMasq: return "masq";
    default: return "method " + std::to_string(fwd);
  }
}

}  // namespace

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
