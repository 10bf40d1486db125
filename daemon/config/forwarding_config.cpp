#include "daemon/config/forwarding_config.hpp"

#include <utility>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/daemon_config.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

namespace {

constexpr std::pair<ForwardingKind, std::string_view> kForwardingKinds[] = {
    {ForwardingKind::none, "none"}, {ForwardingKind::route, "route"}, {ForwardingKind::ipvs, "ipvs"}};

}  // namespace

std::string_view to_string(ForwardingKind kind) {
  for (const auto& [k, name] : kForwardingKinds)
    if (k == kind) return name;
  return "none";
}

std::optional<ForwardingKind> forwarding_kind_from_string(std::string_view text) {
  for (const auto& [k, name] : kForwardingKinds)
    if (name == text) return k;
  return std::nullopt;
}

ForwardingOptions forwarding_options_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"table_base", "priority_base", "remove_on_exit"});
  ForwardingOptions o;
  if (const json* v = find(j, "table_base"))
    o.table_base = static_cast<uint32_t>(get_uint(*v, sub(field, "table_base"), 0xffffffffu - kForwardingSlots));
  if (const json* v = find(j, "priority_base"))
    o.priority_base = static_cast<uint32_t>(get_uint(*v, sub(field, "priority_base"), 32766 - kForwardingSlots));
  if (const json* v = find(j, "remove_on_exit")) o.remove_on_exit = get_bool(*v, sub(field, "remove_on_exit"));
  return o;
}

json forwarding_options_to_json(const ForwardingOptions& o) {
  return json{{"table_base", o.table_base}, {"priority_base", o.priority_base}, {"remove_on_exit", o.remove_on_exit}};
}

void check_forwarding(const DaemonConfig& c) {
  const ForwardingOptions& o = c.forwarding_options;
  if (o.table_base == 0 || o.table_base > 0xffffffffu - kForwardingSlots ||
      (o.table_base <= 255 && o.table_base + kForwardingSlots > 253))
    throw ConfigFieldError("forwarding_options.table_base",
                           "tables " + std::to_string(o.table_base) + ".." +
                               std::to_string(uint64_t{o.table_base} + kForwardingSlots - 1) +
                               " must avoid 0 and the kernel's tables 253-255 (e.g. 20000)");
  if (o.priority_base == 0 || o.priority_base > 32766 - kForwardingSlots)
    throw ConfigFieldError("forwarding_options.priority_base",
                           "rule priorities " + std::to_string(o.priority_base) + ".." +
                               std::to_string(uint64_t{o.priority_base} + kForwardingSlots - 1) +
                               " must lie within 1..32765, before the main table's rule (e.g. 20000)");
  std::size_t servers = 0;
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& svc = c.engine.services[i];
    for (std::size_t k = 0; k < svc.servers.size(); ++k) {
      ++servers;
      const std::string f = index(sub(index("services", i), "servers"), k) + ".forward";
      if (svc.servers[k].forward == sipvs::Forward::masq)
        throw ConfigFieldError(f,
                               "masq is not supported: sipvsd's fwmark services use one-packet scheduling "
                               "(-o), which keeps no connection entry, so NAT replies would not be translated "
                               "back; use \"dr\" (direct routing, ipvsadm -g) or \"tun\" (tunnelling, -i)");
      if (svc.servers[k].forward == sipvs::Forward::tun && c.forwarding == ForwardingKind::route)
        throw ConfigFieldError(f, "tun needs forwarding: ipvs (forwarding: route does direct routing only)");
    }
  }
  if (c.forwarding == ForwardingKind::ipvs && c.mark_mask != 0xffffffff)
    throw ConfigFieldError("mark_mask", "forwarding: ipvs needs mark_mask 0xffffffff: an IPVS fwmark service "
                                        "compares the whole packet mark, so bits outside the mask would never match");
  if (c.forwarding != ForwardingKind::none && servers > kForwardingSlots)
    throw ConfigFieldError("services", "forwarding " + std::string(to_string(c.forwarding)) + " handles at most " +
                                           std::to_string(kForwardingSlots) + " real servers");
}

}  // namespace sipvsd
