#include "daemon/config/health_check_json.hpp"

#include <cstdint>
#include <string_view>
#include <utility>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"
#include "daemon/config/service_json.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

std::string_view to_string(HealthCheckConfig::OnDown d) {
  return d == HealthCheckConfig::OnDown::expire ? "expire" : "keep";
}

HealthCheckConfig health_check_from_json(const json& j, const std::string& field, const HealthCheckConfig& base) {
  expect_object(j, field);
  check_keys(j, field,
             {"interval_ms", "timeout_ms", "failures", "successes", "codes", "local_address", "local_port",
              "on_down"});
  HealthCheckConfig h = base;
  const json* v;
  auto positive = [&](const char* key, uint32_t& out, uint64_t max) {
    if ((v = find(j, key))) {
      out = static_cast<uint32_t>(get_uint(*v, sub(field, key), max));
      if (out == 0) throw ConfigFieldError(sub(field, key), "must be at least 1");
    }
  };
  positive("interval_ms", h.interval_ms, 3'600'000);
  positive("timeout_ms", h.timeout_ms, 3'600'000);
  positive("failures", h.failures, 1000);
  positive("successes", h.successes, 1000);
  if (h.timeout_ms > h.interval_ms)
    throw ConfigFieldError(sub(field, "timeout_ms"), std::to_string(h.timeout_ms) + " exceeds interval_ms " +
                                                         std::to_string(h.interval_ms) +
                                                         " (one probe is outstanding at a time)");
  if ((v = find(j, "codes"))) {
    const std::string f = sub(field, "codes");
    if (!v->is_array()) throw ConfigFieldError(f, "must be an array of SIP response codes (empty: any final)");
    h.codes.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto c = static_cast<uint16_t>(get_uint((*v)[i], index(f, i), 699));
      if (c < 200) throw ConfigFieldError(index(f, i), "must be a final response code, 200-699");
      h.codes.push_back(c);
    }
  }
  if ((v = find(j, "local_address"))) {
    h.local_address = get_string(*v, sub(field, "local_address"));
    if (!h.local_address.empty() && !sipvs::IpAddress::parse(h.local_address))
      throw ConfigFieldError(sub(field, "local_address"),
                             "\"" + h.local_address + "\" is not an IPv4 or IPv6 address (empty: any)");
  }
  if ((v = find(j, "local_port")))
    h.local_port = static_cast<uint16_t>(get_uint(*v, sub(field, "local_port"), 65535));
  if ((v = find(j, "on_down"))) {
    const std::string d = get_string(*v, sub(field, "on_down"));
    if (d == "keep")
      h.on_down = HealthCheckConfig::OnDown::keep;
    else if (d == "expire")
      h.on_down = HealthCheckConfig::OnDown::expire;
    else
      throw ConfigFieldError(sub(field, "on_down"), "\"" + d + "\" is not one of keep, expire");
  }
  return h;
}

json health_check_to_json(const HealthCheckConfig& h) {
  return json{{"interval_ms", h.interval_ms},     {"timeout_ms", h.timeout_ms},
              {"failures", h.failures},           {"successes", h.successes},
              {"codes", h.codes},                 {"local_address", h.local_address},
              {"local_port", h.local_port},       {"on_down", std::string(to_string(h.on_down))}};
}

CheckedServer checked_server_from_json(const json& j, const std::string& field, const ServiceHealthChecks& service) {
  CheckedServer out;
  if (!j.is_object()) {
    out.server = server_from_json(j, field);  // tells the type error
    return out;
  }
  json r = j;
  if (auto it = r.find("health_check"); it != r.end()) {
    out.check = health_check_from_json(*it, sub(field, "health_check"), service.service);
    r.erase(it);
  }
  out.server = server_from_json(r, field);
  return out;
}

CheckedService checked_service_from_json(const json& j, const std::string& field) {
  CheckedService out;
  if (!j.is_object()) {
    out.service = service_from_json(j, field);
    return out;
  }
  if (auto servers = j.find("servers"); servers != j.end())
    check_array(*servers, sub(field, "servers"), sipvs::kMaxRealServers, "real servers");  // before the copy
  json s = j;
  if (auto it = s.find("health_check"); it != s.end()) {
    out.checks.enabled = true;
    out.checks.service = health_check_from_json(*it, sub(field, "health_check"));
    s.erase(it);
  }
  // The servers' own checks first (they start from the service's), then the
  // service without any "health_check" key, which service_from_json does not know.
  if (auto servers = s.find("servers"); servers != s.end() && servers->is_array()) {
    for (std::size_t i = 0; i < servers->size(); ++i) {
      json& r = (*servers)[i];
      if (!r.is_object() || !r.contains("health_check")) continue;
      CheckedServer cs = checked_server_from_json(r, index(sub(field, "servers"), i), out.checks);
      r.erase("health_check");
      out.checks.servers.push_back({cs.server.address, cs.server.port, *cs.check});
    }
  }
  out.service = service_from_json(s, field);
  return out;
}

json server_to_json(const sipvs::RealServerConfig& r, const ServiceHealthChecks* checks) {
  json j = server_to_json(r);
  if (checks)
    for (const ServerHealthCheck& sc : checks->servers)
      if (sc.address == r.address && sc.port == r.port) j["health_check"] = health_check_to_json(sc.check);
  return j;
}

json service_to_json(const sipvs::ServiceConfig& s, const HealthChecks& checks) {
  json j = service_to_json(s);
  const auto hc = checks.find(s.name);
  if (hc == checks.end()) return j;
  if (hc->second.enabled) j["health_check"] = health_check_to_json(hc->second.service);
  j["servers"] = json::array();
  for (const auto& r : s.servers) j["servers"].push_back(server_to_json(r, &hc->second));
  return j;
}

void set_health_checks(HealthChecks& all, const std::string& name, ServiceHealthChecks checks) {
  if (checks.enabled || !checks.servers.empty())
    all[name] = std::move(checks);
  else
    all.erase(name);
}

}  // namespace sipvsd
