#include "daemon/forwarding/targets.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace sipvsd::fwd {

uint8_t family_of(const sipvs::IpAddress& a) { return a.is_v4() ? kFamilyV4 : kFamilyV6; }

std::string hex(uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", mark);
  return buf;
}

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

}  // namespace sipvsd::fwd
