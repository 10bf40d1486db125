#include "api/server_state.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "daemon/config/health_check_json.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kStateKeys{"live_templates", "overloaded", "drained"};

// The server's read-out, if the engine runs it (a change may be in between).
const sipvs::ServerStats* find_stats(const sipvs::EngineStats& stats, const std::string& service,
                                     const sipvs::RealServerConfig& r) {
  const auto s = std::ranges::find(stats.services, service, &sipvs::ServiceStats::name);
  if (s == stats.services.end()) return nullptr;
  const auto it = std::ranges::find_if(
      s->servers, [&](const sipvs::ServerStats& v) { return v.address == r.address && v.port == r.port; });
  return it == s->servers.end() ? nullptr : &*it;
}

// The limits, as set or not, and the engine's read-out of the server.
void add_state(json& j, const sipvs::ServiceConfig& s, const sipvs::RealServerConfig& r,
               const sipvs::EngineStats& stats) {
  j["max_calls"] = r.max_calls;
  j["min_calls"] = r.min_calls;
  const sipvs::ServerStats* live = find_stats(stats, s.name, r);
  j["live_templates"] = live ? live->live_templates : 0;
  j["overloaded"] = live && live->overloaded;
  j["drained"] = live && live->drained;
}

}  // namespace

json server_view(const sipvs::ServiceConfig& s, const sipvs::RealServerConfig& r, const ServiceHealthChecks* checks,
                 const sipvs::EngineStats& stats) {
  json j = server_to_json(r, checks);
  add_state(j, s, r, stats);
  return j;
}

// service_to_json writes the servers in their order, one each.
json service_view(const sipvs::ServiceConfig& s, const HealthChecks& checks, const sipvs::EngineStats& stats) {
  json j = service_to_json(s, checks);
  json& servers = j["servers"];
  for (std::size_t k = 0; k < s.servers.size(); ++k) add_state(servers[k], s, s.servers[k], stats);
  return j;
}

json server_without_state(json server) {
  if (server.is_object())
    for (std::string_view key : kStateKeys) server.erase(std::string(key));
  return server;
}

json service_without_state(json service) {
  if (!service.is_object()) return service;
  const auto servers = service.find("servers");
  if (servers != service.end() && servers->is_array())
    for (json& r : *servers) r = server_without_state(std::move(r));
  return service;
}

}  // namespace sipvsd::api
