#pragma once
// forwarding: route, against the kernel — the route dump and the back-end
// that reconciles fwmark rules and routes through rtnetlink.
#include <cstdint>
#include <memory>
#include <vector>

#include "daemon/config/config_file.hpp"
#include "daemon/forwarding/forwarding.hpp"
#include "daemon/forwarding/route_plan.hpp"

namespace sipvsd {

// The routes of `tables` (sorted), both families. With strict dump checking
// (NETLINK_GET_STRICT_CHK, Linux 4.20) one RTM_GETROUTE per table carries
// RTA_TABLE and the kernel sends nothing of any other table; older kernels
// ignore the filter, so there it is one dump of every table, filtered here.
struct RouteDump {
  std::vector<fwd::Route> routes;
  std::size_t messages = 0;  // route messages the kernel sent
  bool strict = false;
};
RouteDump dump_routes(const ForwardingOptions& options, const std::vector<uint32_t>& tables);

// Throws ForwardingError if rtnetlink cannot be used.
std::unique_ptr<Forwarding> make_route_forwarding(const ForwardingOptions& options);

}  // namespace sipvsd
