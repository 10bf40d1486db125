#include "engine/engine_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <tuple>

#include "engine/parse/sip_header.hpp"
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

// ---- the identities no two objects may share ----

// Where an object sits in the configuration: a service, or one of its servers.
struct Place {
  std::size_t service = 0;
  std::optional<std::size_t> server;
};

// The one set of uniqueness rules: a service's name and what it listens on
// (a fwmark, or protocol, VIP and port) over all services; a server's mark
// over all servers; a server's address and port (port 0: the service's)
// within its service. Each claim returns who held it already, if anyone.
// validate() claims object by object; edited_conflicts() claims every
// other object's first, then the edited one's.
class Claims {
 public:
  std::optional<Place> name(const ServiceConfig& s, std::size_t i) { return claim(names_, s.name, {i, std::nullopt}); }
  std::optional<Place> listener(const ServiceConfig& s, std::size_t i) {
    if (s.is_fwmark()) return claim(fwmarks_, s.fwmark, {i, std::nullopt});
    return claim(vips_, std::make_tuple(s.protocol, s.vip.bytes, s.port), {i, std::nullopt});
  }
  std::optional<Place> mark(const RealServerConfig& r, Place at) { return claim(marks_, r.mark, at); }
  std::optional<Place> endpoint(const ServiceConfig& s, const RealServerConfig& r, Place at) {
    return claim(endpoints_, std::make_tuple(at.service, r.address.bytes, server_port(s, r)), at);
  }
  // A server's tag within its service (servers without one claim nothing).
  std::optional<Place> tag(const RealServerConfig& r, Place at) {
    if (r.tag.empty()) return std::nullopt;
    return claim(tags_, std::make_pair(at.service, r.tag), at);
  }

 private:
  template <typename Map, typename Key>
  static std::optional<Place> claim(Map& map, const Key& key, Place at) {
    auto [it, fresh] = map.emplace(key, at);
    if (fresh) return std::nullopt;
    return it->second;
  }
  std::map<std::string, Place> names_;
  std::map<uint32_t, Place> fwmarks_;
  std::map<std::tuple<uint8_t, std::array<uint8_t, 16>, uint16_t>, Place> vips_;
  std::map<uint32_t, Place> marks_;
  std::map<std::tuple<std::size_t, std::array<uint8_t, 16>, uint16_t>, Place> endpoints_;
  std::map<std::pair<std::size_t, std::string>, Place> tags_;
};

// ---- the edited object's clashes, told from its side and by name ----

// As the REST API names a server: address, or address:port when it has a port.
std::string server_id(const RealServerConfig& r) {
  return r.port == 0 ? r.address.to_string() : r.address.to_string(r.port);
}

std::string describe(const EngineConfig& config, Place held) {
  const ServiceConfig& s = config.services[held.service];
  return "server " + server_id(s.servers[*held.server]) + " of service '" + s.name + "'";
}

// What every object but `edited` holds: a running configuration's others
// never clash among themselves.
Claims claims_of_others(const EngineConfig& config, const EditedObject& edited) {
  Claims claims;
  for (std::size_t k = 0; k < config.services.size(); ++k) {
    const ServiceConfig& s = config.services[k];
    if (k != edited.service) {
      claims.name(s, k);
      claims.listener(s, k);
    }
    for (std::size_t j = 0; j < s.servers.size(); ++j) {
      if (k == edited.service && (!edited.server || *edited.server == j)) continue;
      claims.mark(s.servers[j], {k, j});
      claims.endpoint(s, s.servers[j], {k, j});
      claims.tag(s.servers[j], {k, j});
    }
  }
  return claims;
}

Verdict edited_service_conflicts(const EngineConfig& config, std::size_t index) {
  Claims claims = claims_of_others(config, {index, std::nullopt});
  const ServiceConfig& s = config.services.at(index);
  const std::string at = service_path(index);
  if (claims.name(s, index)) return conflict(at + ".name", "service '" + s.name + "' already exists");
  if (auto held = claims.listener(s, index)) {
    const std::string& other = config.services[held->service].name;
    if (s.is_fwmark())
      return conflict(at + ".fwmark", "fwmark " + std::to_string(s.fwmark) + " is already service '" + other + "'");
    return conflict(at + ".vip",
                    s.vip.to_string() + " port " + std::to_string(s.port) + " is already service '" + other + "'");
  }
  for (std::size_t j = 0; j < s.servers.size(); ++j) {
    // A clash between two of its own servers is validate()'s.
    auto held = claims.mark(s.servers[j], {index, j});
    if (held && held->service != index)
      return conflict(at + ".servers[" + std::to_string(j) + "].mark",
                      "mark " + mark_to_string(s.servers[j].mark) + " is already used by " + describe(config, *held));
  }
  return std::nullopt;
}

Verdict edited_server_conflicts(const EngineConfig& config, std::size_t service, std::size_t index) {
  Claims claims = claims_of_others(config, {service, index});
  const ServiceConfig& own = config.services.at(service);
  const RealServerConfig& r = own.servers.at(index);
  const std::string at = server_path(service, index);
  if (auto held = claims.mark(r, {service, index}))
    return conflict(at + ".mark", "mark " + mark_to_string(r.mark) + " is already used by " + describe(config, *held));
  if (auto held = claims.endpoint(own, r, {service, index})) {
    const RealServerConfig& o = own.servers[*held->server];
    const std::string as = o.port == r.port ? "" : " (as " + server_id(o) + ")";
    return conflict(at + ".address", server_id(r) + " is already a server of service '" + own.name + "'" + as);
  }
  if (auto held = claims.tag(r, {service, index}))
    return conflict(at + ".tag", "tag '" + r.tag + "' is already server " + server_id(own.servers[*held->server]) +
                                     "'s in service '" + own.name + "'");
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

// Its name, and what it listens on (a fwmark, or a VIP and port): each
// well formed and not another service's.
Verdict check_service_identity(const ServiceConfig& s, std::size_t i, Claims& claims) {
  const std::string at = service_path(i);
  if (!valid_name(s.name))
    return ConfigError{at + ".name", "'" + s.name + "' is not a name: 1-64 of letters, digits, '-', '_', '.'"};
  if (auto held = claims.name(s, i))
    return conflict(at + ".name", "'" + s.name + "' is already used by " + service_path(held->service));
  if (s.is_fwmark()) {
    if (s.vip.family != IpAddress::Family::none || s.port != 0)
      return ConfigError{at, "a service has either a fwmark or a vip and port, not both"};
    if (auto held = claims.listener(s, i))
      return conflict(at + ".fwmark", "fwmark " + std::to_string(s.fwmark) + " is already " + service_path(held->service));
    return std::nullopt;
  }
  if (s.vip.family == IpAddress::Family::none)
    return ConfigError{at + ".vip", "a service needs a vip and port, or a fwmark"};
  if (s.port == 0) return ConfigError{at + ".port", "must be 1-65535"};
  if (s.protocol != 17) return ConfigError{at + ".protocol", "only udp: sipvsd decides per datagram"};
  if (auto held = claims.listener(s, i))
    return conflict(at, "udp " + s.vip.to_string() + ":" + std::to_string(s.port) + " is already " +
                            service_path(held->service));
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

// ipvsadm -x and -y: a lower threshold only below an upper one.
Verdict check_call_limits(const RealServerConfig& r, const std::string& at) {
  if (r.max_calls > kMaxCalls)
    return ConfigError{at + ".max_calls", "must be between 0 and " + std::to_string(kMaxCalls)};
  if (r.min_calls == 0) return std::nullopt;
  if (r.max_calls == 0)
    return ConfigError{at + ".min_calls", "needs max_calls: it is the lower threshold of that limit"};
  if (r.min_calls > r.max_calls)
    return ConfigError{at + ".min_calls", "must not be above max_calls (" + std::to_string(r.max_calls) + ")"};
  return std::nullopt;
}

// Each of the service's servers: its own values, a mark no other server
// uses, an address and port no other server of this service has.
Verdict check_servers(const ServiceConfig& s, std::size_t i, Claims& claims) {
  for (std::size_t j = 0; j < s.servers.size(); ++j) {
    const RealServerConfig& r = s.servers[j];
    const std::string at = server_path(i, j);
    if (r.address.family == IpAddress::Family::none) return ConfigError{at + ".address", "missing"};
    if (!s.is_fwmark() && r.address.family != s.vip.family)
      return ConfigError{at + ".address", "not of the vip's address family (direct routing keeps the family)"};
    // Worded as the config file's reader words every range.
    if (r.weight > kMaxWeight) return ConfigError{at + ".weight", "must be between 0 and " + std::to_string(kMaxWeight)};
    if (Verdict v = check_call_limits(r, at)) return v;
    if (r.mark == 0) return ConfigError{at + ".mark", "must be nonzero: unmarked packets take the fallback path"};
    if (auto held = claims.mark(r, {i, j}))
      return conflict(at + ".mark", "mark " + std::to_string(r.mark) + " is already used by " +
                                        server_path(held->service, *held->server));
    if (auto held = claims.endpoint(s, r, {i, j})) {
      const std::size_t other = *held->server;
      const bool port_0 = s.port != 0 && (r.port == 0 || s.servers[other].port == 0);
      return conflict(at, r.address.to_string() + " port " + std::to_string(server_port(s, r)) + " is already servers[" +
                              std::to_string(other) + "] of this service" +
                              (port_0 ? " (port 0 is the service's port)" : ""));
    }
    if (!r.tag.empty() && (r.tag.size() > kMaxServerTag || !std::ranges::all_of(r.tag, is_sip_token_char)))
      return ConfigError{at + ".tag", "'" + r.tag + "' is not a tag: 1-" + std::to_string(kMaxServerTag) +
                                          " of letters, digits and -.!%*_+`'~"};
    if (auto held = claims.tag(r, {i, j}))
      return conflict(at + ".tag", "tag '" + r.tag + "' is already servers[" + std::to_string(*held->server) +
                                       "]'s in this service");
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
