// /v1/services: the virtual services, in the config file's schema. Every
// change goes through the control plane (validated, saved, applied
// atomically). PATCH is a JSON merge patch (RFC 7396) of the resource as GET
// shows it. A service's "health_check" (SIP OPTIONS probing) is part of it;
// its servers' state is shown too (api/server_state.hpp).
#include "daemon/log.hpp"
#include "api/routes.hpp"
#include "api/server_state.hpp"
#include "api/service_edit.hpp"
#include "daemon/config/health_check_json.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;

Response list_services(ControlPlane& cp, const RequestContext&) {
  json list = json::array();
  const DaemonConfig c = cp.config();
  const sipvs::EngineStats stats = cp.engine().stats();
  for (const auto& s : c.engine.services) list.push_back(service_view(s, c.health_checks, stats));
  return json_response(http::status::ok, {{"services", std::move(list)}});
}

Response add_service(ControlPlane& cp, const RequestContext& ctx) {
  const CheckedService cs = checked_service_from_json(service_without_state(ctx.json_body()), "");
  const sipvs::ServiceConfig& s = cs.service;
  const DaemonConfig after = change(cp, [&](DaemonConfig& c) {
    c.engine.services.push_back(s);
    set_health_checks(c.health_checks, s.name, cs.checks);
    return sipvs::EditedObject{c.engine.services.size() - 1, std::nullopt};
  });
  LOG_NOTICE("api: service %s added", s.name.c_str());
  return created("/v1/services/" + s.name, service_view(s, after.health_checks, cp.engine().stats()));
}

Response get_service(ControlPlane& cp, const RequestContext& ctx) {
  const DaemonConfig c = cp.config();
  return json_response(http::status::ok, service_view(c.engine.services[find_service(c, ctx.param("id"))],
                                                      c.health_checks, cp.engine().stats()));
}

Response replace_service(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  json body = service_without_state(ctx.json_body());
  if (body.is_object() && !body.contains("name")) body["name"] = id;
  const CheckedService cs = checked_service_from_json(body, "");
  const sipvs::ServiceConfig& s = cs.service;
  if (s.name != id) throw ApiError::bad_field("name", "'" + s.name + "' is not the service in the path ('" + id + "')");
  const DaemonConfig after = change(cp, [&](DaemonConfig& c) {
    const std::size_t index = find_service(c, id);
    c.engine.services[index] = s;
    set_health_checks(c.health_checks, id, cs.checks);
    return sipvs::EditedObject{index, std::nullopt};
  });
  LOG_NOTICE("api: service %s replaced", id.c_str());
  return json_response(http::status::ok, service_view(s, after.health_checks, cp.engine().stats()));
}

Response patch_service(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  const json patch = ctx.json_body();
  std::size_t index = 0;
  const DaemonConfig after = change(cp, [&](DaemonConfig& c) {
    index = find_service(c, id);
    CheckedService cs = checked_service_from_json(
        service_without_state(patched(service_to_json(c.engine.services[index], c.health_checks), patch)), "");
    if (cs.service.name != id) throw ApiError::bad_field("name", "a service cannot be renamed; add a new one");
    c.engine.services[index] = std::move(cs.service);
    set_health_checks(c.health_checks, id, std::move(cs.checks));
    return sipvs::EditedObject{index, std::nullopt};
  });
  LOG_NOTICE("api: service %s changed", id.c_str());
  return json_response(http::status::ok,
                       service_view(after.engine.services[index], after.health_checks, cp.engine().stats()));
}

Response delete_service(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  cp.update([&](DaemonConfig& c) {
    c.engine.services.erase(c.engine.services.begin() + find_service(c, id));
    c.health_checks.erase(id);
  });
  LOG_NOTICE("api: service %s deleted", id.c_str());
  return empty_response(http::status::no_content);
}

}  // namespace

void add_service_routes(Router& router, ControlPlane& control) {
  auto on = [&control](Response (*handler)(ControlPlane&, const RequestContext&)) {
    return [cp = &control, handler](const RequestContext& ctx) { return handler(*cp, ctx); };
  };
  router.add(http::verb::get, "/v1/services", on(list_services));
  router.add(http::verb::post, "/v1/services", on(add_service));
  router.add(http::verb::get, "/v1/services/{id}", on(get_service));
  router.add(http::verb::put, "/v1/services/{id}", on(replace_service));
  router.add(http::verb::patch, "/v1/services/{id}", on(patch_service));
  router.add(http::verb::delete_, "/v1/services/{id}", on(delete_service));
}

}  // namespace sipvsd::api
