// /v1/services and /v1/services/{id}/servers: the virtual services and their
// real servers, in the config file's schema. Every change goes through the
// control plane (validated, saved, applied atomically). PATCH is a JSON merge
// patch (RFC 7396) of the resource as GET shows it. A service's or server's
// "health_check" (SIP OPTIONS probing) is part of its resource.
#include "daemon/log.hpp"
#include "api/routes.hpp"
#include "api/server_id.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;
using Services = std::vector<sipvs::ServiceConfig>;

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

std::string describe(const sipvs::ServiceConfig& s, const sipvs::RealServerConfig& r) {
  return "server " + server_id(r.address, r.port) + " of service '" + s.name + "'";
}

ApiError conflict(std::string field, std::string reason) {
  return ApiError(http::status::conflict, std::move(reason), std::move(field));
}

// Clashes of the edited service (or of one of its servers) with the others,
// told by name and relative to the request body. The engine's validate() is
// still the authority; this only words its conflicts for the resource at hand.
void check_service_conflicts(const DaemonConfig& c, std::size_t index) {
  const Services& all = c.engine.services;
  const sipvs::ServiceConfig& s = all[index];
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (k == index) continue;
    const sipvs::ServiceConfig& o = all[k];
    if (o.name == s.name) throw conflict("name", "service '" + s.name + "' already exists");
    if (s.is_fwmark() && o.is_fwmark() && s.fwmark == o.fwmark)
      throw conflict("fwmark", "fwmark " + std::to_string(s.fwmark) + " is already service '" + o.name + "'");
    if (!s.is_fwmark() && !o.is_fwmark() && s.vip == o.vip && s.port == o.port && s.protocol == o.protocol)
      throw conflict("vip", s.vip.to_string() + " port " + std::to_string(s.port) + " is already service '" +
                                o.name + "'");
    for (std::size_t j = 0; j < s.servers.size(); ++j)
      for (const auto& r : o.servers)
        if (r.mark == s.servers[j].mark)
          throw conflict("servers[" + std::to_string(j) + "].mark",
                         "mark " + mark_to_string(r.mark) + " is already used by " + describe(o, r));
  }
}

void check_server_conflicts(const DaemonConfig& c, std::size_t service, std::size_t index) {
  const Services& all = c.engine.services;
  const sipvs::RealServerConfig& r = all[service].servers[index];
  for (std::size_t k = 0; k < all.size(); ++k) {
    for (std::size_t j = 0; j < all[k].servers.size(); ++j) {
      if (k == service && j == index) continue;
      const auto& o = all[k].servers[j];
      if (o.mark == r.mark)
        throw conflict("mark", "mark " + mark_to_string(r.mark) + " is already used by " + describe(all[k], o));
      // One server, one identity: port 0 stands for the service's port.
      if (k == service && o.address == r.address &&
          sipvs::server_port(all[k], o) == sipvs::server_port(all[k], r)) {
        const std::string as = o.port == r.port ? "" : " (as " + server_id(o.address, o.port) + ")";
        throw conflict("address", server_id(r.address, r.port) + " is already a server of service '" +
                                      all[k].name + "'" + as);
      }
    }
  }
}

// Errors of the whole configuration about the edited resource are reported
// relative to it ("services[2].servers[1].mark" -> "mark").
template <class Edit>
DaemonConfig change(ControlPlane& control, const std::function<std::string(const DaemonConfig&)>& prefix, Edit edit) {
  std::string at;
  try {
    return control.update([&](DaemonConfig& c) {
      edit(c);
      at = prefix(c);
    });
  } catch (const ConfigFieldError& e) {
    std::string field = e.field();
    if (!at.empty() && field.rfind(at + ".", 0) == 0) field = field.substr(at.size() + 1);
    throw ConfigFieldError(std::move(field), e.reason(), e.kind());
  }
}

std::string service_path(std::size_t i) { return "services[" + std::to_string(i) + "]"; }

json patched(json current, const json& patch) {
  if (!patch.is_object()) throw ApiError::bad_field("", "a merge patch must be a JSON object");
  current.merge_patch(patch);
  return current;
}

std::string location(const std::string& service, const sipvs::RealServerConfig* r = nullptr) {
  std::string l = "/v1/services/" + service;
  if (r) l += "/servers/" + server_id(r->address, r->port);
  return l;
}

const ServiceHealthChecks* checks_of(const DaemonConfig& c, const std::string& service) {
  const auto it = c.health_checks.find(service);
  return it == c.health_checks.end() ? nullptr : &it->second;
}

ServiceHealthChecks checks_copy(const DaemonConfig& c, const std::string& service) {
  const ServiceHealthChecks* hc = checks_of(c, service);
  return hc ? *hc : ServiceHealthChecks{};
}

// The server's own check, replaced by `check` (none: the service's applies).
void set_server_check(DaemonConfig& c, const std::string& service, const sipvs::RealServerConfig& r,
                      const std::optional<HealthCheckConfig>& check) {
  ServiceHealthChecks hc = checks_copy(c, service);
  std::erase_if(hc.servers, [&](const ServerHealthCheck& sc) { return sc.address == r.address && sc.port == r.port; });
  if (check) hc.servers.push_back({r.address, r.port, *check});
  set_health_checks(c.health_checks, service, std::move(hc));
}

Response created(const std::string& where, const json& body) {
  Response res = json_response(http::status::created, body);
  res.set(http::field::location, where);
  return res;
}

}  // namespace

void add_service_routes(Router& router, ControlPlane& control) {
  ControlPlane* cp = &control;

  router.add(http::verb::get, "/v1/services", [cp](const RequestContext&) {
    json list = json::array();
    const DaemonConfig c = cp->config();
    for (const auto& s : c.engine.services) list.push_back(service_to_json(s, c.health_checks));
    return json_response(http::status::ok, {{"services", std::move(list)}});
  });

  router.add(http::verb::post, "/v1/services", [cp](const RequestContext& ctx) {
    const CheckedService cs = checked_service_from_json(ctx.json_body(), "");
    const sipvs::ServiceConfig& s = cs.service;
    const DaemonConfig after = change(*cp, [](const DaemonConfig& c) { return service_path(c.engine.services.size() - 1); },
                                      [&](DaemonConfig& c) {
                                        c.engine.services.push_back(s);
                                        check_service_conflicts(c, c.engine.services.size() - 1);
                                        set_health_checks(c.health_checks, s.name, cs.checks);
                                      });
    LOG_NOTICE("api: service %s added", s.name.c_str());
    return created(location(s.name), service_to_json(s, after.health_checks));
  });

  router.add(http::verb::get, "/v1/services/{id}", [cp](const RequestContext& ctx) {
    const DaemonConfig c = cp->config();
    return json_response(http::status::ok,
                         service_to_json(c.engine.services[find_service(c, ctx.param("id"))], c.health_checks));
  });

  router.add(http::verb::put, "/v1/services/{id}", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    json body = ctx.json_body();
    if (body.is_object() && !body.contains("name")) body["name"] = id;
    const CheckedService cs = checked_service_from_json(body, "");
    const sipvs::ServiceConfig& s = cs.service;
    if (s.name != id) throw ApiError::bad_field("name", "'" + s.name + "' is not the service in the path ('" + id + "')");
    std::size_t index = 0;
    const DaemonConfig after = change(*cp, [&](const DaemonConfig&) { return service_path(index); },
                                      [&](DaemonConfig& c) {
                                        index = find_service(c, id);
                                        c.engine.services[index] = s;
                                        check_service_conflicts(c, index);
                                        set_health_checks(c.health_checks, id, cs.checks);
                                      });
    LOG_NOTICE("api: service %s replaced", id.c_str());
    return json_response(http::status::ok, service_to_json(s, after.health_checks));
  });

  router.add(http::verb::patch, "/v1/services/{id}", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    const json patch = ctx.json_body();
    std::size_t index = 0;
    const DaemonConfig after = change(*cp, [&](const DaemonConfig&) { return service_path(index); },
                                      [&](DaemonConfig& c) {
                                        index = find_service(c, id);
                                        CheckedService cs = checked_service_from_json(
                                            patched(service_to_json(c.engine.services[index], c.health_checks), patch), "");
                                        if (cs.service.name != id)
                                          throw ApiError::bad_field("name", "a service cannot be renamed; add a new one");
                                        c.engine.services[index] = std::move(cs.service);
                                        check_service_conflicts(c, index);
                                        set_health_checks(c.health_checks, id, std::move(cs.checks));
                                      });
    LOG_NOTICE("api: service %s changed", id.c_str());
    return json_response(http::status::ok, service_to_json(after.engine.services[index], after.health_checks));
  });

  router.add(http::verb::delete_, "/v1/services/{id}", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    cp->update([&](DaemonConfig& c) {
      c.engine.services.erase(c.engine.services.begin() + find_service(c, id));
      c.health_checks.erase(id);
    });
    LOG_NOTICE("api: service %s deleted", id.c_str());
    return empty_response(http::status::no_content);
  });

  router.add(http::verb::get, "/v1/services/{id}/servers", [cp](const RequestContext& ctx) {
    const DaemonConfig c = cp->config();
    json list = json::array();
    const std::string& id = ctx.param("id");
    for (const auto& r : c.engine.services[find_service(c, id)].servers)
      list.push_back(server_to_json(r, checks_of(c, id)));
    return json_response(http::status::ok, {{"servers", std::move(list)}});
  });

  router.add(http::verb::post, "/v1/services/{id}/servers", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    const json body = ctx.json_body();
    CheckedServer cr;
    std::size_t index = 0;
    const DaemonConfig after = change(*cp,
           [&](const DaemonConfig& c) {
             return service_path(index) + ".servers[" + std::to_string(c.engine.services[index].servers.size() - 1) + "]";
           },
           [&](DaemonConfig& c) {
             index = find_service(c, id);
             cr = checked_server_from_json(body, "", checks_copy(c, id));
             auto& servers = c.engine.services[index].servers;
             servers.push_back(cr.server);
             check_server_conflicts(c, index, servers.size() - 1);
             set_server_check(c, id, cr.server, cr.check);
           });
    const sipvs::RealServerConfig& r = cr.server;
    LOG_NOTICE("api: service %s: server %s added", id.c_str(), server_id(r.address, r.port).c_str());
    return created(location(id, &r), server_to_json(r, checks_of(after, id)));
  });

  router.add(http::verb::get, "/v1/services/{id}/servers/{rs}", [cp](const RequestContext& ctx) {
    const DaemonConfig c = cp->config();
    const auto& s = c.engine.services[find_service(c, ctx.param("id"))];
    return json_response(http::status::ok, server_to_json(s.servers[find_server(s, ctx.param("rs"))], checks_of(c, s.name)));
  });

  router.add(http::verb::patch, "/v1/services/{id}/servers/{rs}", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    const json patch = ctx.json_body();
    std::size_t index = 0, k = 0;
    sipvs::RealServerConfig r;
    const DaemonConfig after = change(*cp,
           [&](const DaemonConfig&) { return service_path(index) + ".servers[" + std::to_string(k) + "]"; },
           [&](DaemonConfig& c) {
             index = find_service(c, id);
             auto& s = c.engine.services[index];
             k = find_server(s, ctx.param("rs"));
             const ServiceHealthChecks hc = checks_copy(c, id);
             CheckedServer cr = checked_server_from_json(patched(server_to_json(s.servers[k], &hc), patch), "", hc);
             r = cr.server;
             // Address and port are the server's identity: its templates and
             // counters belong to them.
             if (r.address != s.servers[k].address)
               throw ApiError::bad_field("address", "cannot change; add a new server and delete this one");
             if (r.port != s.servers[k].port)
               throw ApiError::bad_field("port", "cannot change; add a new server and delete this one");
             s.servers[k] = r;
             check_server_conflicts(c, index, k);
             set_server_check(c, id, r, cr.check);
           });
    LOG_NOTICE("api: service %s: server %s changed (weight %u, mark %s)", id.c_str(),
               server_id(r.address, r.port).c_str(), r.weight, mark_to_string(r.mark).c_str());
    return json_response(http::status::ok, server_to_json(r, checks_of(after, id)));
  });

  router.add(http::verb::delete_, "/v1/services/{id}/servers/{rs}", [cp](const RequestContext& ctx) {
    const std::string& id = ctx.param("id");
    std::string gone;
    cp->update([&](DaemonConfig& c) {
      auto& s = c.engine.services[find_service(c, id)];
      const std::size_t k = find_server(s, ctx.param("rs"));
      gone = server_id(s.servers[k].address, s.servers[k].port);
      set_server_check(c, id, s.servers[k], std::nullopt);
      s.servers.erase(s.servers.begin() + static_cast<std::ptrdiff_t>(k));
    });
    LOG_NOTICE("api: service %s: server %s deleted (its templates dropped)", id.c_str(), gone.c_str());
    return empty_response(http::status::no_content);
  });
}

}  // namespace sipvsd::api
