#pragma once
// The "health_check" keys of services and real servers in the configuration
// file and the REST API, and the services and servers read and written with
// them. `field` is the path used in error messages; they throw ConfigFieldError.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine_config.hpp"
#include "daemon/health/health_check_config.hpp"

namespace sipvsd {

// A "health_check" object; keys it lacks keep `base`'s values (a server's
// check starts from its service's).
HealthCheckConfig health_check_from_json(const nlohmann::json& j, const std::string& field,
                                         const HealthCheckConfig& base = {});
nlohmann::json health_check_to_json(const HealthCheckConfig& h);

// A service or a real server as the config file and the REST API write it:
// the engine's part and the "health_check" keys (the service's own and its
// servers').
struct CheckedService {
  sipvs::ServiceConfig service;
  ServiceHealthChecks checks;
};
CheckedService checked_service_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json service_to_json(const sipvs::ServiceConfig& s, const HealthChecks& checks);
struct CheckedServer {
  sipvs::RealServerConfig server;
  std::optional<HealthCheckConfig> check;  // the server's own, if it has one
};
// `service` holds the check whose values the server's own starts from.
CheckedServer checked_server_from_json(const nlohmann::json& j, const std::string& field,
                                       const ServiceHealthChecks& service);
nlohmann::json server_to_json(const sipvs::RealServerConfig& r, const ServiceHealthChecks* checks);
// Sets the checks of service `name`, or forgets them when it has none (so
// that a service or server added later under the same name starts unchecked).
void set_health_checks(HealthChecks& all, const std::string& name, ServiceHealthChecks checks);

}  // namespace sipvsd
