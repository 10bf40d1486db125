// /v1/config (the whole configuration in the config file's schema; PUT
// replaces it, validated first) and /v1/debug-level.
#include "daemon/log.hpp"
#include "api/routes.hpp"
#include "daemon/config/config_json.hpp"

namespace sipvsd::api {

void add_config_routes(Router& router, ControlPlane& control) {
  ControlPlane* cp = &control;

  router.add(http::verb::get, "/v1/config", [cp](const RequestContext&) {
    nlohmann::json j = to_json(cp->config());
    // The level in force (signals change it too), so that PUT of this changes nothing.
    j["debug_level"] = log::debug_level();
    return json_response(http::status::ok, j);
  });

  router.add(http::verb::put, "/v1/config", [cp](const RequestContext& ctx) {
    // A ConfigFieldError (of the format here, of check_config in replace) is
    // a 400, or a 409 for a clash between objects or a restart-only setting.
    const DaemonConfig now = cp->replace(config_from_json(ctx.json_body()));
    log::set_debug_level(now.debug_level);
    LOG_NOTICE("api: configuration replaced (%zu services)", now.engine.services.size());
    return json_response(http::status::ok, to_json(now));
  });

  router.add(http::verb::get, "/v1/debug-level", [](const RequestContext&) {
    return json_response(http::status::ok, {{"level", log::debug_level()}});
  });

  router.add(http::verb::put, "/v1/debug-level", [cp](const RequestContext& ctx) {
    const nlohmann::json body = ctx.json_body();
    if (!body.is_object()) throw ApiError::bad_field("", "must be a JSON object like {\"level\": 3}");
    for (auto it = body.begin(); it != body.end(); ++it)
      if (it.key() != "level") throw ApiError::bad_field(it.key(), "unknown key (known keys: level)");
    const auto it = body.find("level");
    if (it == body.end()) throw ApiError::bad_field("level", "missing");
    if (!it->is_number_unsigned() || it->get<uint64_t>() > log::kMaxDebug)
      throw ApiError::bad_field("level", "must be an integer between 0 and " + std::to_string(log::kMaxDebug));
    const auto level = static_cast<unsigned>(it->get<uint64_t>());
    cp->update([&](DaemonConfig& c) { c.debug_level = level; });
    // Set even when the configuration already said so: a signal may have moved it.
    log::set_debug_level(level);
    LOG_NOTICE("api: debug level %u", level);
    return json_response(http::status::ok, {{"level", level}});
  });
}

}  // namespace sipvsd::api
