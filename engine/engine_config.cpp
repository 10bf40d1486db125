#include "engine/engine_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <tuple>

#include "engine/pe/persistence_engine.hpp"
#include "engine/scheduler/scheduler.hpp"

namespace sipvs {

namespace {

using Verdict = std::optional<ConfigError>;

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

std::string service_path(std::size_t i) { return "services[" + std::to_string(i) + "]"; }
std::string server_path(std::size_t i, std::size_t j) {
  return service_path(i) + ".servers[" + std::to_string(j) + "]";
}

ConfigError conflict(std::string field, std::string reason) {
  return ConfigError{std::move(field), std::move(reason), ConfigError::Kind::conflict};
}

// ---- the edited object's clashes, told from its side and by name ----

// As the REST API names a server: address, or address:port when it has a port.
std::string server_id(const RealServerConfig& r) {
  return r.port == 0 ? r.address.to_string() : r.address.to_string(r.port);
}

std::string describe(const ServiceConfig& s, const RealServerConfig& r) {
  return "server " + server_id(r) + " of service '" + s.name + "'";
}

Verdict edited_service_conflicts(const EngineConfig& config, std::size_t index) {
  const ServiceConfig& s = config.services.at(index);
  const std::string at = service_path(index);
  for (std::size_t k = 0; k < config.services.size(); ++k) {
    if (k == index) continue;
    const ServiceConfig& o = config.services[k];
    if (o.name == s.name) return conflict(at + ".name", "service '" + s.name + "' already exists");
    if (s.is_fwmark() && o.is_fwmark() && s.fwmark == o.fwmark)
      return conflict(at + ".fwmark", "fwmark " + std::to_string(s.fwmark) + " is already service '" + o.name + "'");
    if (!s.is_fwmark() && !o.is_fwmark() && s.vip == o.vip && s.port == o.port && s.protocol == o.protocol)
      return conflict(at + ".vip",
                      s.vip.to_string() + " port " + std::to_string(s.port) + " is already service '" + o.name + "'");
    for (std::size_t j = 0; j < s.servers.size(); ++j)
      for (const RealServerConfig& r : o.servers)
        if (r.mark == s.servers[j].mark)
          return conflict(at + ".servers[" + std::to_string(j) + "].mark",
                          "mark " + mark_to_string(r.mark) + " is already used by " + describe(o, r));
  }
  return std::nullopt;
}

Verdict edited_server_conflicts(const EngineConfig& config, std::size_t service, std::size_t index) {
  const ServiceConfig& own = config.services.at(service);
  const RealServerConfig& r = own.servers.at(index);
  const std::string at = server_path(service, index);
  for (std::size_t k = 0; k < config.services.size(); ++k) {
    const ServiceConfig& s = config.services[k];
    for (std::size_t j = 0; j < s.servers.size(); ++j) {
      if (k == service && j == index) continue;
      const RealServerConfig& o = s.servers[j];
      if (o.mark == r.mark)
        return conflict(at + ".mark", "mark " + mark_to_string(r.mark) + " is already used by " + describe(s, o));
      // One server, one identity: port 0 stands for the service's port.
      if (k == service && o.address == r.address && server_port(s, o) == server_port(s, r)) {
        const std::string as = o.port == r.port ? "" : " (as " + server_id(o) + ")";
        return conflict(at + ".address", server_id(r) + " is already a server of service '" + s.name + "'" + as);
      }
    }
  }
  return std::nullopt;
}

// ---- the configuration, object by object, told by index ----

// The engine's fixed sizes and the table's settings.
Verdict check_limits(const EngineConfig& config) {
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
  return std::nullopt;
}

// What the services and servers checked so far hold, each with where.
struct Claims {
  std::map<std::string, std::size_t> names;
  std::map<std::tuple<uint8_t, std::array<uint8_t, 16>, uint16_t>, std::size_t> vips;
  std::map<uint32_t, std::size_t> fwmarks;
  std::map<uint32_t, std::string> marks;
};

// Its name, and what it listens on (a fwmark, or a VIP and port): each
// well formed and not another service's.
Verdict check_service_identity(const ServiceConfig& s, std::size_t i, Claims& claims) {
  const std::string at = service_path(i);
  if (!valid_name(s.name))
    return ConfigError{at + ".name", "'" + s.name + "' is not a name: 1-64 of letters, digits, '-', '_', '.'"};
  if (auto [it, fresh] = claims.names.emplace(s.name, i); !fresh)
    return conflict(at + ".name", "'" + s.name + "' is already used by " + service_path(it->second));
  if (s.is_fwmark()) {
    if (s.vip.family != IpAddress::Family::none || s.port != 0)
      return ConfigError{at, "a service has either a fwmark or a vip and port, not both"};
    if (auto [it, fresh] = claims.fwmarks.emplace(s.fwmark, i); !fresh)
      return conflict(at + ".fwmark", "fwmark " + std::to_string(s.fwmark) + " is already " + service_path(it->second));
    return std::nullopt;
  }
  if (s.vip.family == IpAddress::Family::none)
    return ConfigError{at + ".vip", "a service needs a vip and port, or a fwmark"};
  if (s.port == 0) return ConfigError{at + ".port", "must be 1-65535"};
  if (s.protocol != 17) return ConfigError{at + ".protocol", "only udp: sipvsd decides per datagram"};
  if (auto [it, fresh] = claims.vips.emplace(std::make_tuple(s.protocol, s.vip.bytes, s.port), i); !fresh)
    return conflict(at, "udp " + s.vip.to_string() + ":" + std::to_string(s.port) + " is already " +
                            service_path(it->second));
  return std::nullopt;
}

// How it schedules and persists: a known scheduler and PE, a netmask within the family.
Verdict check_service_options(const ServiceConfig& s, std::size_t i) {
  const std::string at = service_path(i);
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
      return ConfigError{at + ".netmask",
                         "prefix " + std::to_string(*s.netmask) + " is longer than " + std::to_string(max)};
  }
  return std::nullopt;
}

// Each of the service's servers: its own values, a mark no other server
// uses, an address and port no other server of this service has.
Verdict check_servers(const ServiceConfig& s, std::size_t i, Claims& claims) {
  std::map<std::pair<std::array<uint8_t, 16>, uint16_t>, std::size_t> endpoints;
  for (std::size_t j = 0; j < s.servers.size(); ++j) {
    const RealServerConfig& r = s.servers[j];
    const std::string at = server_path(i, j);
    if (r.address.family == IpAddress::Family::none) return ConfigError{at + ".address", "missing"};
    if (!s.is_fwmark() && r.address.family != s.vip.family)
      return ConfigError{at + ".address", "not of the vip's address family (direct routing keeps the family)"};
    // Worded as the config file's reader words every range.
    if (r.weight > kMaxWeight) return ConfigError{at + ".weight", "must be between 0 and " + std::to_string(kMaxWeight)};
    if (r.mark == 0) return ConfigError{at + ".mark", "must be nonzero: unmarked packets take the fallback path"};
    if (auto [it, fresh] = claims.marks.emplace(r.mark, at); !fresh)
      return conflict(at + ".mark", "mark " + std::to_string(r.mark) + " is already used by " + it->second);
    const uint16_t port = server_port(s, r);
    if (auto [it, fresh] = endpoints.emplace(std::make_pair(r.address.bytes, port), j); !fresh) {
      const bool port_0 = s.port != 0 && (r.port == 0 || s.servers[it->second].port == 0);
      return conflict(at, r.address.to_string() + " port " + std::to_string(port) + " is already servers[" +
                              std::to_string(it->second) + "] of this service" +
                              (port_0 ? " (port 0 is the service's port)" : ""));
    }
  }
  return std::nullopt;
}

}  // namespace

std::string mark_to_string(uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", mark);
  return buf;
}

std::optional<ConfigError> edited_conflicts(const EngineConfig& config, const EditedObject& edited) {
  return edited.server ? edited_server_conflicts(config, edited.service, *edited.server)
                       : edited_service_conflicts(config, edited.service);
}

std::optional<ConfigError> validate(const EngineConfig& config) {
  if (Verdict v = check_limits(config)) return v;
  Claims claims;
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& s = config.services[i];
    if (Verdict v = check_service_identity(s, i, claims)) return v;
    if (Verdict v = check_service_options(s, i)) return v;
    if (Verdict v = check_servers(s, i, claims)) return v;
  }
  return std::nullopt;
}

std::variant<ValidConfig, ConfigError> validated(EngineConfig config) {
  if (auto error = validate(config)) return std::move(*error);
  return ValidConfig(std::move(config));
}

}  // namespace sipvs
