#pragma once
// forwarding: ipvs, against the kernel — the back-end that reconciles fwmark
// services through IPVS's generic netlink family.
#include <memory>

#include "daemon/forwarding/forwarding.hpp"

namespace sipvsd {

std::unique_ptr<Forwarding> make_ipvs_forwarding();  // throws ForwardingError(kNoIpvsMessage)

}  // namespace sipvsd
