#pragma once
// `sipvsd rules`: the kernel side that matches a configuration, for an
// operator to review and load: the NFQUEUE rules (as iptables commands, or as
// an nftables ruleset for `nft -f`), fwmark policy routing for direct routing,
// and the IPVS fwmark services alternative.
#include <optional>
#include <string>
#include <string_view>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

// The iptables NFQUEUE target's queue option for these queues:
// "--queue-num 3" or "--queue-balance 0:1" (contiguous queues only).
std::string nfqueue_target_option(const std::vector<uint16_t>& queues);

// The nft `queue` statement's target for these queues: "num 3" or "num 0-1".
std::string nft_queue_target(const std::vector<uint16_t>& queues);

enum class RulesFormat {
  iptables,  // a shell script: iptables and ip commands
  nft,       // an `nft -f` file; the ip commands, which nft cannot hold, as comments
};
std::optional<RulesFormat> rules_format_from_string(std::string_view text);  // nullopt if unknown

std::string render_rules(const DaemonConfig& config, std::string_view source,
                         RulesFormat format = RulesFormat::iptables);

}  // namespace sipvsd
