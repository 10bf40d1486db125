#pragma once
// `sipvsd rules`: the kernel side that matches a configuration, as commented
// shell an operator can review and paste: the iptables NFQUEUE rule, fwmark
// policy routing for direct routing, and the IPVS fwmark services alternative.
#include <string>
#include <string_view>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// The iptables NFQUEUE target's queue option for these queues:
// "--queue-num 3" or "--queue-balance 0:1" (contiguous queues only).
std::string nfqueue_target_option(const std::vector<uint16_t>& queues);

std::string render_rules(const DaemonConfig& config, std::string_view source);

}  // namespace sipvsd
