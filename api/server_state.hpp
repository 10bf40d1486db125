#pragma once
// What /v1/services shows of each real server besides its configuration:
// its calls in progress (live templates) and what its max_calls and its
// weight make of them, read from the engine. They are read only: a body
// that carries them back (what GET showed, in a PUT or a PATCH) has them
// dropped, so that a resource read, edited and sent back is taken.
#include <nlohmann/json.hpp>

#include "daemon/config/control_plane.hpp"

namespace sipvsd::api {

// A service, or one of its servers, as the API shows it: the config file's
// schema with the health checks and both limits (0: none), and each
// server's live_templates, overloaded and drained from `stats`.
nlohmann::json service_view(const sipvs::ServiceConfig& s, const HealthChecks& checks, const sipvs::EngineStats& stats);
nlohmann::json server_view(const sipvs::ServiceConfig& s, const sipvs::RealServerConfig& r,
                           const ServiceHealthChecks* checks, const sipvs::EngineStats& stats);

// A request's service, or server, without what the views add. Anything
// but an object is left as it is, for the parser to refuse.
nlohmann::json service_without_state(nlohmann::json service);
nlohmann::json server_without_state(nlohmann::json server);

}  // namespace sipvsd::api
