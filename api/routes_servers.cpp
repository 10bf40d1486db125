// /v1/services/{id}/servers: a service's real servers, in the config file's
// schema, each named by its id (api/server_id.hpp). Every change goes through
// the control plane; PATCH is a JSON merge patch (RFC 7396) of the resource as
// GET shows it. A server's own "health_check" is part of it, and its state
// (live templates, overloaded, drained: api/server_state.hpp) is shown.
#include "daemon/log.hpp"
#include "api/routes.hpp"
#include "api/server_id.hpp"
#include "api/server_state.hpp"
#include "api/service_edit.hpp"
#include "daemon/config/health_check_json.hpp"
#include "daemon/config/service_json.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;

// The server's own check, replaced by `check` (none: the service's applies).
void set_server_check(DaemonConfig& c, const std::string& service, const sipvs::RealServerConfig& r,
                      const std::optional<HealthCheckConfig>& check) {
  ServiceHealthChecks hc = checks_copy(c, service);
  std::erase_if(hc.servers, [&](const ServerHealthCheck& sc) { return sc.address == r.address && sc.port == r.port; });
  if (check) hc.servers.push_back({r.address, r.port, *check});
  set_health_checks(c.health_checks, service, std::move(hc));
}

// The server `r` of service `id` in `c`, as GET shows it.
json view(ControlPlane& cp, const DaemonConfig& c, const std::string& id, const sipvs::RealServerConfig& r) {
  return server_view(c.engine.services[find_service(c, id)], r, checks_of(c, id), cp.engine().stats());
}

Response list_servers(ControlPlane& cp, const RequestContext& ctx) {
  const DaemonConfig c = cp.config();
  const sipvs::EngineStats stats = cp.engine().stats();
  json list = json::array();
  const std::string& id = ctx.param("id");
  const sipvs::ServiceConfig& s = c.engine.services[find_service(c, id)];
  for (const auto& r : s.servers) list.push_back(server_view(s, r, checks_of(c, id), stats));
  return json_response(http::status::ok, {{"servers", std::move(list)}});
}

Response add_server(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  const json body = server_without_state(ctx.json_body());
  CheckedServer cr;
  const DaemonConfig after = change(cp, [&](DaemonConfig& c) {
    const std::size_t index = find_service(c, id);
    cr = checked_server_from_json(body, "", checks_copy(c, id));
    auto& servers = c.engine.services[index].servers;
    servers.push_back(cr.server);
    set_server_check(c, id, cr.server, cr.check);
    return sipvs::EditedObject{index, servers.size() - 1};
  });
  const sipvs::RealServerConfig& r = cr.server;
  const std::string rs = server_id(r.address, r.port);
  LOG_NOTICE("api: service %s: server %s added", id.c_str(), rs.c_str());
  return created("/v1/services/" + id + "/servers/" + rs, view(cp, after, id, r));
}

Response get_server(ControlPlane& cp, const RequestContext& ctx) {
  const DaemonConfig c = cp.config();
  const auto& s = c.engine.services[find_service(c, ctx.param("id"))];
  return json_response(http::status::ok, view(cp, c, s.name, s.servers[find_server(s, ctx.param("rs"))]));
}

Response patch_server(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  const json patch = ctx.json_body();
  sipvs::RealServerConfig r;
  const DaemonConfig after = change(cp, [&](DaemonConfig& c) {
    const std::size_t index = find_service(c, id);
    auto& s = c.engine.services[index];
    const std::size_t k = find_server(s, ctx.param("rs"));
    const ServiceHealthChecks hc = checks_copy(c, id);
    CheckedServer cr =
        checked_server_from_json(server_without_state(patched(server_to_json(s.servers[k], &hc), patch)), "", hc);
    r = cr.server;
    // Address and port are the server's identity: its templates and
    // counters belong to them.
    if (r.address != s.servers[k].address)
      throw ApiError::bad_field("address", "cannot change; add a new server and delete this one");
    if (r.port != s.servers[k].port)
      throw ApiError::bad_field("port", "cannot change; add a new server and delete this one");
    s.servers[k] = r;
    set_server_check(c, id, r, cr.check);
    return sipvs::EditedObject{index, k};
  });
  LOG_NOTICE("api: service %s: server %s changed (weight %u, mark %s, max_calls %u)", id.c_str(),
             server_id(r.address, r.port).c_str(), r.weight, mark_to_string(r.mark).c_str(), r.max_calls);
  return json_response(http::status::ok, view(cp, after, id, r));
}

Response delete_server(ControlPlane& cp, const RequestContext& ctx) {
  const std::string& id = ctx.param("id");
  std::string gone;
  cp.update([&](DaemonConfig& c) {
    auto& s = c.engine.services[find_service(c, id)];
    const std::size_t k = find_server(s, ctx.param("rs"));
    gone = server_id(s.servers[k].address, s.servers[k].port);
    set_server_check(c, id, s.servers[k], std::nullopt);
    s.servers.erase(s.servers.begin() + static_cast<std::ptrdiff_t>(k));
  });
  LOG_NOTICE("api: service %s: server %s deleted (its templates dropped)", id.c_str(), gone.c_str());
  return empty_response(http::status::no_content);
}

}  // namespace

void add_server_routes(Router& router, ControlPlane& control) {
  auto on = [&control](Response (*handler)(ControlPlane&, const RequestContext&)) {
    return [cp = &control, handler](const RequestContext& ctx) { return handler(*cp, ctx); };
  };
  router.add(http::verb::get, "/v1/services/{id}/servers", on(list_servers));
  router.add(http::verb::post, "/v1/services/{id}/servers", on(add_server));
  router.add(http::verb::get, "/v1/services/{id}/servers/{rs}", on(get_server));
  router.add(http::verb::patch, "/v1/services/{id}/servers/{rs}", on(patch_server));
  router.add(http::verb::delete_, "/v1/services/{id}/servers/{rs}", on(delete_server));
}

}  // namespace sipvsd::api
