#pragma once
// The kernel's neighbour table (ARP and NDP), read through rtnetlink.
#include <stdexcept>
#include <vector>

#include "daemon/datapath/sender_map.hpp"

namespace sipvsd {

class NeighbourError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every IPv4 and IPv6 entry that has a link-layer address (reachable, stale,
// delayed, probing or permanent: the address is the host's until it
// answers otherwise). Throws NeighbourError.
std::vector<Neighbour> read_neighbours();

// Makes the kernel resolve `addresses` (real servers the table lacks): one
// empty datagram to each one's discard port (9). A server then has an entry
// before it sends anything, so its first call placed is learned too. Errors
// are ignored: an address that does not resolve is tried again next time.
void resolve_neighbours(const std::vector<sipvs::IpAddress>& addresses);

}  // namespace sipvsd
