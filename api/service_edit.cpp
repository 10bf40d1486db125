#include "api/service_edit.hpp"

#include "api/server_id.hpp"

namespace sipvsd::api {

std::size_t find_service(const DaemonConfig& c, const std::string& id) {
  const auto& s = c.engine.services;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i].name == id) return i;
  throw ApiError::not_found("no service '" + id + "'");
}

std::size_t find_server(const sipvs::ServiceConfig& service, const std::string& rs) {
  const auto ref = parse_server_id(rs);
  if (!ref) throw ApiError::not_found("'" + rs + "' is not a server id (address, address:port or [v6]:port)");
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < service.servers.size(); ++i) {
    const auto& r = service.servers[i];
    // A server with port 0 takes the service's port, so either names it.
    const bool port_ok = !ref->port || r.port == *ref->port || sipvs::server_port(service, r) == *ref->port;
    if (r.address != ref->address || !port_ok) continue;
    if (found)
      throw ApiError(http::status::bad_request,
                     "several servers of '" + service.name + "' have address " + ref->address.to_string() +
                         ": name one as address:port");
    found = i;
  }
  if (!found) throw ApiError::not_found("service '" + service.name + "' has no server " + rs);
  return *found;
}

DaemonConfig change(ControlPlane& control, const std::function<sipvs::EditedObject(DaemonConfig&)>& edit) {
  std::string at;
  try {
    return control.update_one([&](DaemonConfig& c) {
      const sipvs::EditedObject edited = edit(c);
      at = "services[" + std::to_string(edited.service) + "]";
      if (edited.server) at += ".servers[" + std::to_string(*edited.server) + "]";
      return edited;
    });
  } catch (const ConfigFieldError& e) {
    std::string field = e.field();
    if (!at.empty() && field.rfind(at + ".", 0) == 0) field = field.substr(at.size() + 1);
    throw ConfigFieldError(std::move(field), e.reason(), e.kind());
  }
}

nlohmann::json patched(nlohmann::json current, const nlohmann::json& patch) {
  if (!patch.is_object()) throw ApiError::bad_field("", "a merge patch must be a JSON object");
  current.merge_patch(patch);
  return current;
}

const ServiceHealthChecks* checks_of(const DaemonConfig& c, const std::string& service) {
  const auto it = c.health_checks.find(service);
  return it == c.health_checks.end() ? nullptr : &it->second;
}

ServiceHealthChecks checks_copy(const DaemonConfig& c, const std::string& service) {
  const ServiceHealthChecks* hc = checks_of(c, service);
  return hc ? *hc : ServiceHealthChecks{};
}

Response created(const std::string& location, const nlohmann::json& body) {
  Response res = json_response(http::status::created, body);
  res.set(http::field::location, location);
  return res;
}

}  // namespace sipvsd::api
