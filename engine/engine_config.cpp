#include "engine/engine_config.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>
#include <tuple>

#include "engine/pe/persistence_engine.hpp"
#include "engine/scheduler/scheduler.hpp"

namespace sipvs {

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string scheduler_list() {
  std::string out;
  for (auto n : scheduler_names()) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace

std::optional<ConfigError> validate(const EngineConfig& config) {
  if (config.max_templates < 1) return ConfigError{"max_templates", "must be at least 1"};
  if (config.udp_timeout < 1) return ConfigError{"udp_timeout", "must be at least 1 second"};
  if (config.per_source_prefix_v4 > 32) return ConfigError{"per_source_prefix_v4", "must be 0-32"};
  if (config.per_source_prefix_v6 > 128) return ConfigError{"per_source_prefix_v6", "must be 0-128"};
  // The configuration alone. A change to a running engine also needs room for
  // what it replaces (Engine::apply() checks that against what runs).
  std::size_t servers = 0;
  for (const ServiceConfig& s : config.services) servers += s.servers.size();
  if (config.services.size() > kMaxServices)
    return ConfigError{"services", std::to_string(config.services.size()) + " services, the engine holds at most " +
                                       std::to_string(kMaxServices)};
  if (servers > kMaxRealServers)
    return ConfigError{"services", std::to_string(servers) +
                                       " real servers over all services, the engine holds at most " +
                                       std::to_string(kMaxRealServers)};

  std::map<std::string, std::size_t> names;
  std::map<std::tuple<uint8_t, std::array<uint8_t, 16>, uint16_t>, std::size_t> vips;
  std::map<uint32_t, std::size_t> fwmarks;
  std::map<uint32_t, std::string> marks;  // mark -> where it is used

  for (std::size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& s = config.services[i];
    const std::string at = "services[" + std::to_string(i) + "]";
    if (!valid_name(s.name))
      return ConfigError{at + ".name", "'" + s.name + "' is not a name: 1-64 of letters, digits, '-', '_', '.'"};
    if (auto [it, fresh] = names.emplace(s.name, i); !fresh)
      return ConfigError{at + ".name", "'" + s.name + "' is already used by services[" +
                                           std::to_string(it->second) + "]", ConfigError::Kind::conflict};
    if (s.is_fwmark()) {
      if (s.vip.family != IpAddress::Family::none || s.port != 0)
        return ConfigError{at, "a service has either a fwmark or a vip and port, not both"};
      if (auto [it, fresh] = fwmarks.emplace(s.fwmark, i); !fresh)
        return ConfigError{at + ".fwmark", "fwmark " + std::to_string(s.fwmark) + " is already services[" +
                                               std::to_string(it->second) + "]", ConfigError::Kind::conflict};
    } else {
      if (s.vip.family == IpAddress::Family::none)
        return ConfigError{at + ".vip", "a service needs a vip and port, or a fwmark"};
      if (s.port == 0) return ConfigError{at + ".port", "must be 1-65535"};
      if (s.protocol != 17)
        return ConfigError{at + ".protocol", "only udp: sipvsd decides per datagram"};
      auto key = std::make_tuple(s.protocol, s.vip.bytes, s.port);
      if (auto [it, fresh] = vips.emplace(key, i); !fresh)
        return ConfigError{at, "udp " + s.vip.to_string() + ":" + std::to_string(s.port) +
                                   " is already services[" + std::to_string(it->second) + "]", ConfigError::Kind::conflict};
    }
    if (std::ranges::find(scheduler_names(), s.scheduler) == scheduler_names().end())
      return ConfigError{at + ".scheduler", "unknown scheduler '" + s.scheduler + "' (known: " + scheduler_list() + ")"};
    if (!s.pe.empty()) {
      try {
        make_persistence_engine(s.pe, s.pe_param);
      } catch (const std::invalid_argument& e) {
        return ConfigError{at + ".pe", e.what()};
      }
      if (s.persistence_timeout == 0)
        return ConfigError{at + ".persistence_timeout",
                           "a persistence engine needs a persistent service (ipvsadm -p): set a timeout"};
    } else if (!s.pe_param.empty()) {
      return ConfigError{at + ".pe_param", "given without a persistence engine"};
    }
    if (s.netmask) {
      const unsigned max = s.vip.is_v4() ? 32 : 128;
      if (*s.netmask > max)
        return ConfigError{at + ".netmask", "prefix " + std::to_string(*s.netmask) + " is longer than " +
                                                std::to_string(max)};
    }

    std::map<std::pair<std::array<uint8_t, 16>, uint16_t>, std::size_t> endpoints;
    for (std::size_t j = 0; j < s.servers.size(); ++j) {
      const RealServerConfig& r = s.servers[j];
      const std::string rat = at + ".servers[" + std::to_string(j) + "]";
      if (r.address.family == IpAddress::Family::none) return ConfigError{rat + ".address", "missing"};
      if (!s.is_fwmark() && r.address.family != s.vip.family)
        return ConfigError{rat + ".address", "not of the vip's address family (direct routing keeps the family)"};
      // Worded as the config file's reader words every range.
      if (r.weight > kMaxWeight)
        return ConfigError{rat + ".weight", "must be between 0 and " + std::to_string(kMaxWeight)};
      if (r.mark == 0) return ConfigError{rat + ".mark", "must be nonzero: unmarked packets take the fallback path"};
      if (auto [it, fresh] = marks.emplace(r.mark, rat); !fresh)
        return ConfigError{rat + ".mark", "mark " + std::to_string(r.mark) + " is already used by " + it->second, ConfigError::Kind::conflict};
      const uint16_t port = server_port(s, r);
      if (auto [it, fresh] = endpoints.emplace(std::make_pair(r.address.bytes, port), j); !fresh) {
        const bool port_0 = s.port != 0 && (r.port == 0 || s.servers[it->second].port == 0);
        return ConfigError{rat, r.address.to_string() + " port " + std::to_string(port) + " is already servers[" +
                                    std::to_string(it->second) + "] of this service" +
                                    (port_0 ? " (port 0 is the service's port)" : ""), ConfigError::Kind::conflict};
      }
    }
  }
  return std::nullopt;
}

}  // namespace sipvs
