#pragma once
// Configurations and kernel states shared by the forwarding tests.
#include <string>

#include "daemon/config/daemon_config.hpp"
#include "daemon/forwarding/ipvs_plan.hpp"
#include "daemon/forwarding/route_plan.hpp"

namespace fwdtest {

inline sipvs::IpAddress ip(const char* text) { return *sipvs::IpAddress::parse(text); }

inline sipvs::RealServerConfig server(const char* address, uint32_t mark, uint32_t weight = 1,
                                      sipvs::Forward f = sipvs::Forward::dr) {
  sipvs::RealServerConfig r;
  r.address = ip(address);
  r.mark = mark;
  r.weight = weight;
  r.forward = f;
  return r;
}

// One VIP service with three real servers, marks 0x1..0x3 under mask 0xff.
inline sipvsd::DaemonConfig three_servers(const char* forwarding = "route") {
  sipvsd::DaemonConfig c;
  c.forwarding = *sipvsd::forwarding_kind_from_string(forwarding);
  c.mark_mask = 0xff;
  sipvs::ServiceConfig s;
  s.name = "sip";
  s.vip = ip("198.18.2.100");
  s.port = 5060;
  s.scheduler = "rr";
  s.servers = {server("198.18.3.2", 1), server("198.18.4.2", 2), server("198.18.5.2", 3)};
  c.engine.services.push_back(s);
  return c;
}

}  // namespace fwdtest
