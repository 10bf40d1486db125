#pragma once
// What every forwarding back-end starts from: per real server, the mark the
// engine hands out and where packets with that mark must go.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/config/config_file.hpp"

namespace sipvsd::fwd {

inline constexpr uint8_t kFamilyV4 = 2;    // AF_INET
inline constexpr uint8_t kFamilyV6 = 10;   // AF_INET6

uint8_t family_of(const sipvs::IpAddress& a);

// A mark or mask as the back-ends' messages and `sipvsd rules` show it: "0x1".
std::string hex(uint32_t mark);

// One mark's desired forwarding, from one real server of the configuration.
struct Target {
  std::string service;     // for messages
  uint32_t mark = 0;
  sipvs::IpAddress server;
  uint16_t port = 0;       // IPVS destination port (0: keep the packet's)
  sipvs::IpAddress vip;    // routed destination; family none for fwmark services (default route)
  sipvs::Forward method = sipvs::Forward::dr;
};
// Every real server of every service, sorted by mark.
std::vector<Target> targets(const DaemonConfig& config);

}  // namespace sipvsd::fwd
