#pragma once
// What the routes of /v1/services and /v1/services/{id}/servers share: finding
// the resource a path names, and changing one service or server through the
// control plane with errors told relative to the request's body.
#include <cstddef>
#include <functional>
#include <string>

#include "api/router.hpp"
#include "daemon/config/control_plane.hpp"

namespace sipvsd::api {

// The index of the service named `id`, or of `service`'s server that the
// path segment `rs` names; ApiError (404, or 400 if `rs` fits several) if none.
std::size_t find_service(const DaemonConfig& c, const std::string& id);
std::size_t find_server(const sipvs::ServiceConfig& service, const std::string& rs);

// ControlPlane::update_one: `edit` changes one service or server and returns
// which. Errors about it name its fields as its body does
// ("services[2].servers[1].mark" -> "mark").
DaemonConfig change(ControlPlane& control, const std::function<sipvs::EditedObject(DaemonConfig&)>& edit);

// `current` with the JSON merge patch (RFC 7396) `patch` applied.
nlohmann::json patched(nlohmann::json current, const nlohmann::json& patch);

// The service's health checks: none, or a copy (empty when it has none).
const ServiceHealthChecks* checks_of(const DaemonConfig& c, const std::string& service);
ServiceHealthChecks checks_copy(const DaemonConfig& c, const std::string& service);

// 201 Created with the new resource's Location.
Response created(const std::string& location, const nlohmann::json& body);

}  // namespace sipvsd::api
