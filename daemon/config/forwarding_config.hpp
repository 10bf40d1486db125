#pragma once
// The configuration of forwarding, how sipvsd programs the kernel's
// mark -> real server mapping (daemon/forwarding/forwarding.hpp): the
// "forwarding" back-end, its "forwarding_options" and what they require of
// the rest of the configuration.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sipvsd {

struct DaemonConfig;

// The back-end, written "none", "route" or "ipvs" in the configuration, the
// state file and the REST API.
enum class ForwardingKind { none, route, ipvs };
std::string_view to_string(ForwardingKind kind);  // views a literal: .data() is NUL-terminated
std::optional<ForwardingKind> forwarding_kind_from_string(std::string_view text);  // nullopt if unknown

struct ForwardingOptions {
  uint32_t table_base = 20000;     // route: sipvsd's routing tables, table_base .. +kForwardingSlots-1
  uint32_t priority_base = 20000;  // route: its ip rules' priorities, priority_base .. +kForwardingSlots-1
  bool remove_on_exit = false;     // on clean shutdown remove what it created (default: leave it)
  friend bool operator==(const ForwardingOptions&, const ForwardingOptions&) = default;
};
inline constexpr uint32_t kForwardingSlots = 4096;  // real servers per back-end

// `field` names the object in errors ("forwarding_options"). Throws ConfigFieldError.
ForwardingOptions forwarding_options_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json forwarding_options_to_json(const ForwardingOptions& o);

// What the forwarding back-ends need of a configuration: masq is refused for
// every back-end, tun needs IPVS, ipvs the whole mark, and the route
// back-end's ranges must not hit the kernel's own tables (253-255) or
// priorities (0, 32766, 32767). Throws ConfigFieldError.
void check_forwarding(const DaemonConfig& c);

}  // namespace sipvsd
