// The routes in process: requests built by hand, handled by the router that
// the server uses, against a real engine and control plane.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "fixtures.hpp"
#include "daemon/log.hpp"
#include "packet_builder.hpp"
#include "api/routes.hpp"
#include "api/server_id.hpp"
#include "daemon/config/state_file.hpp"

using namespace sipvsd;
using namespace sipvsd::api;
using nlohmann::json;

namespace {

struct Harness {
  explicit Harness(std::string token = {})
      : start(test::sip_config(dir.file("state.json"))),
        engine(start.engine),
        control(engine, start),
        router(make_router(control, rates, {}, std::move(token))) {}

  Response call(http::verb method, const std::string& target, std::optional<std::string> body = std::nullopt,
                std::string content_type = "application/json", std::string authorization = {}) {
    Request req{method, target, 11};
    if (body) {
      req.set(http::field::content_type, content_type);
      req.body() = *body;
      req.prepare_payload();
    }
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    return router.handle(req);
  }
  json call_json(http::verb method, const std::string& target, std::optional<std::string> body = std::nullopt) {
    return json::parse(call(method, target, std::move(body)).body());
  }

  test::TempDir dir;
  DaemonConfig start;
  sipvs::Engine engine;
  ControlPlane control;
  Rates rates;
  Router router;
};

unsigned status(const Response& r) { return r.result_int(); }

json problem(const Response& r) {
  CHECK(r[http::field::content_type] == "application/problem+json");
  return json::parse(r.body());
}

}  // namespace

TEST_CASE("services: create, read, change, delete") {
  Harness h;
  auto r = h.call(http::verb::post, "/v1/services",
                  R"({"name": "b", "vip": "198.18.2.101", "port": 5060, "persistence_timeout": 60,
                      "pe": "sip", "servers": [{"address": "198.18.1.5", "mark": 5}]})");
  CHECK(status(r) == 201);
  CHECK(r[http::field::location] == "/v1/services/b");
  CHECK(h.engine.config().services.size() == 2);

  const json list = h.call_json(http::verb::get, "/v1/services");
  REQUIRE(list["services"].size() == 2);
  CHECK(list["services"][1]["name"] == "b");
  CHECK(list["services"][1]["scheduler"] == "wlc");

  r = h.call(http::verb::patch, "/v1/services/b", R"({"scheduler": "rr", "persistence_timeout": 30})",
             "application/merge-patch+json");
  CHECK(status(r) == 200);
  CHECK(json::parse(r.body())["scheduler"] == "rr");
  CHECK(h.engine.config().services[1].persistence_timeout == 30);
  CHECK(h.engine.config().services[1].servers.size() == 1);  // untouched by the patch

  r = h.call(http::verb::put, "/v1/services/b", R"({"vip": "198.18.2.102", "port": 5080})");
  CHECK(status(r) == 200);
  CHECK(h.engine.config().services[1].port == 5080);
  CHECK(h.engine.config().services[1].servers.empty());  // PUT replaces everything

  CHECK(status(h.call(http::verb::delete_, "/v1/services/b")) == 204);
  CHECK(status(h.call(http::verb::get, "/v1/services/b")) == 404);
  CHECK(h.engine.config().services.size() == 1);
}

TEST_CASE("servers: add, quiesce, remove; removing drops templates, quiescing keeps them") {
  Harness h;
  auto w = h.engine.make_decider();
  for (int i = 0; i < 20; ++i) {
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("c" + std::to_string(i)));
    REQUIRE(w.decide(p, 0, sipvs::monotonic_seconds()).template_created);
  }
  auto on = [&](const char* server) {
    return h.call_json(http::verb::get, std::string("/v1/templates?limit=100&server=") + server)["templates"].size();
  };
  const std::size_t first = on("198.18.1.1:5060"), second = on("198.18.1.2");
  CHECK(first + second == 20);
  CHECK(first > 0);

  auto r = h.call(http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.3", "port": 5060, "mark": 3})");
  CHECK(status(r) == 201);
  CHECK(r[http::field::location] == "/v1/services/sip/servers/198.18.1.3:5060");

  r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.1:5060", R"({"weight": 0})");
  CHECK(status(r) == 200);
  CHECK(h.engine.config().services[0].servers[0].weight == 0);
  CHECK(on("198.18.1.1:5060") == first);

  CHECK(status(h.call(http::verb::delete_, "/v1/services/sip/servers/198.18.1.2")) == 204);
  CHECK(on("198.18.1.2") == 0);
  CHECK(on("198.18.1.1") == first);

  const json servers = h.call_json(http::verb::get, "/v1/services/sip/servers");
  REQUIRE(servers["servers"].size() == 2);
  CHECK(servers["servers"][1]["address"] == "198.18.1.3");
  CHECK(status(h.call(http::verb::get, "/v1/services/sip/servers/198.18.1.9")) == 404);
  CHECK(status(h.call(http::verb::get, "/v1/services/sip/servers/not-an-ip")) == 404);
}

TEST_CASE("one server, one identity: 198.18.1.1 and 198.18.1.1:5060 of a port-5060 service are one server") {
  Harness h;  // sip (port 5060) has 198.18.1.1:5060 and 198.18.1.2:5060
  const json before = h.call_json(http::verb::get, "/v1/config");

  auto r = h.call(http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.1", "mark": 9})");
  CHECK(status(r) == 409);
  CHECK(problem(r)["field"] == "address");
  CHECK(problem(r)["detail"] == "198.18.1.1 is already a server of service 'sip' (as 198.18.1.1:5060)");

  r = h.call(http::verb::post, "/v1/services",
             R"({"name": "c", "vip": "198.18.2.9", "port": 5060,
                 "servers": [{"address": "198.18.1.10", "mark": 10}, {"address": "198.18.1.10", "port": 5060, "mark": 11}]})");
  CHECK(status(r) == 409);
  CHECK(problem(r)["field"] == "servers[1]");
  CHECK(h.call_json(http::verb::get, "/v1/config") == before);

  // Port 5070 and the service's 5060 are two servers, until the service moves to 5070.
  r = h.call(http::verb::post, "/v1/services",
             R"({"name": "c", "vip": "198.18.2.9", "port": 5060,
                 "servers": [{"address": "198.18.1.10", "mark": 10}, {"address": "198.18.1.10", "port": 5070, "mark": 11}]})");
  REQUIRE(status(r) == 201);
  CHECK(h.call_json(http::verb::get, "/v1/services/c/servers/198.18.1.10:5060")["mark"] == 10);
  CHECK(h.call_json(http::verb::get, "/v1/services/c/servers/198.18.1.10:5070")["mark"] == 11);
  CHECK(status(h.call(http::verb::get, "/v1/services/c/servers/198.18.1.10")) == 400);  // which of the two?
  r = h.call(http::verb::patch, "/v1/services/c", R"({"port": 5070})");
  CHECK(status(r) == 409);
  CHECK(problem(r)["field"] == "servers[1]");
  CHECK(h.call_json(http::verb::get, "/v1/services/c")["port"] == 5060);
}

TEST_CASE("server tags: set, shown, cleared; unique within the service") {
  Harness h;
  CHECK(status(h.call(http::verb::patch, "/v1/services/sip", R"({"pe": "sip-tag", "pe_param": "srvid"})")) == 200);
  auto r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"tag": "s1"})");
  CHECK(status(r) == 200);
  CHECK(json::parse(r.body())["tag"] == "s1");
  CHECK(h.engine.config().services[0].servers[0].tag == "s1");
  CHECK(h.call_json(http::verb::get, "/v1/services/sip/servers/198.18.1.1")["tag"] == "s1");
  CHECK_FALSE(h.call_json(http::verb::get, "/v1/services/sip/servers/198.18.1.2").contains("tag"));

  const json before = h.call_json(http::verb::get, "/v1/config");
  struct Case {
    const char* body;
    unsigned status;
  };
  for (const Case& c : {Case{R"({"tag": "s1"})", 409}, Case{R"({"tag": "s 2"})", 400}, Case{R"({"tag": ""})", 400},
                        Case{R"({"tag": 2})", 400}, Case{R"({"tag": "0123456789abcdef0123456789abcdef0"})", 400}}) {
    CAPTURE(c.body);
    r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.2", c.body);
    CHECK(status(r) == c.status);
    CHECK(problem(r)["field"] == "tag");
  }
  CHECK(h.call_json(http::verb::get, "/v1/config") == before);

  CHECK(status(h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"tag": null})")) == 200);
  CHECK(h.engine.config().services[0].servers[0].tag.empty());
  CHECK(status(h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.2", R"({"tag": "s1"})")) == 200);
}

TEST_CASE("health checks: part of the service and server resources, saved, forgotten with them") {
  Harness h;
  auto r = h.call(http::verb::patch, "/v1/services/sip",
                  R"({"health_check": {"interval_ms": 200, "timeout_ms": 100, "on_down": "expire"}})");
  REQUIRE(status(r) == 200);
  CHECK(json::parse(r.body())["health_check"]["interval_ms"] == 200);
  CHECK(json::parse(r.body())["health_check"]["failures"] == 3);  // the default
  CHECK(h.control.config().health_checks.at("sip").service.on_down == HealthCheckConfig::OnDown::expire);
  CHECK(parse_json_text(*read_file_if_exists(h.dir.file("state.json")))["services"][0]["health_check"]["timeout_ms"] ==
        100);

  // A server's own check takes what it lacks from the service's.
  r = h.call(http::verb::post, "/v1/services/sip/servers",
             R"({"address": "198.18.1.3", "port": 5060, "mark": 3, "health_check": {"failures": 5}})");
  REQUIRE(status(r) == 201);
  const json own = h.call_json(http::verb::get, "/v1/services/sip/servers/198.18.1.3:5060")["health_check"];
  CHECK(own["failures"] == 5);
  CHECK(own["interval_ms"] == 200);
  CHECK_FALSE(h.call_json(http::verb::get, "/v1/services/sip/servers/198.18.1.1").contains("health_check"));
  CHECK(h.call_json(http::verb::get, "/v1/services/sip")["servers"][2]["health_check"]["failures"] == 5);

  // Merge patches: a weight leaves the check alone; null removes it.
  r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.3", R"({"weight": 2})");
  CHECK(json::parse(r.body())["health_check"]["failures"] == 5);
  r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.3", R"({"health_check": null})");
  REQUIRE(status(r) == 200);
  CHECK_FALSE(json::parse(r.body()).contains("health_check"));
  CHECK(h.control.config().health_checks.at("sip").servers.empty());

  // A server deleted and added again does not inherit its old check.
  h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.3", R"({"health_check": {"failures": 7}})");
  CHECK(status(h.call(http::verb::delete_, "/v1/services/sip/servers/198.18.1.3")) == 204);
  CHECK(status(h.call(http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.3", "port": 5060, "mark": 3})")) ==
        201);
  CHECK_FALSE(h.call_json(http::verb::get, "/v1/services/sip/servers/198.18.1.3").contains("health_check"));

  // PUT replaces the whole service: without the key, it is no longer checked.
  r = h.call(http::verb::put, "/v1/services/sip", R"({"vip": "198.18.2.100", "port": 5060})");
  REQUIRE(status(r) == 200);
  CHECK(h.control.config().health_checks.count("sip") == 0);

  // A service deleted and created again under its name starts unchecked too.
  h.call(http::verb::patch, "/v1/services/sip", R"({"health_check": {}})");
  CHECK(h.control.config().health_checks.at("sip").enabled);
  CHECK(status(h.call(http::verb::delete_, "/v1/services/sip")) == 204);
  CHECK(h.control.config().health_checks.empty());
  r = h.call(http::verb::post, "/v1/services", R"({"name": "sip", "vip": "198.18.2.100", "port": 5060})");
  REQUIRE(status(r) == 201);
  CHECK_FALSE(json::parse(r.body()).contains("health_check"));
}

TEST_CASE("errors: status, problem body with the field, and nothing changed") {
  Harness h;
  h.call(http::verb::post, "/v1/services",
         R"({"name": "b", "vip": "198.18.2.101", "port": 5060, "servers": [{"address": "198.18.1.5", "mark": 5}]})");
  const json before = h.call_json(http::verb::get, "/v1/config");
  const auto generation = h.control.generation();

  struct Case {
    http::verb method;
    const char* target;
    const char* body;
    unsigned status;
    const char* field;  // nullptr: no field expected
  };
  const Case cases[] = {
      {http::verb::post, "/v1/services", "{\"name\": ", 400, ""},
      {http::verb::post, "/v1/services", R"({"name": "c", "vip": "198.18.2.9", "port": 5060, "weight": 1})", 400, "weight"},
      {http::verb::post, "/v1/services", R"({"name": "c", "vip": "nope", "port": 5060})", 400, "vip"},
      {http::verb::post, "/v1/services", R"({"name": "c", "vip": "198.18.2.9", "port": 5060, "scheduler": "x"})", 400,
       "scheduler"},
      {http::verb::post, "/v1/services", R"({"name": "c", "port": 1, "port": 2})", 400, "port"},
      {http::verb::post, "/v1/services", R"({"name": "sip", "vip": "198.18.2.9", "port": 5060})", 409, "name"},
      {http::verb::post, "/v1/services", R"({"name": "c", "vip": "198.18.2.100", "port": 5060})", 409, "vip"},
      {http::verb::post, "/v1/services",
       R"({"name": "c", "vip": "198.18.2.9", "port": 5060, "servers": [{"address": "198.18.1.7", "mark": 5}]})", 409,
       "servers[0].mark"},
      {http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.7", "mark": 5})", 409, "mark"},
      {http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.1", "port": 5060, "mark": 9})", 409,
       "address"},
      {http::verb::post, "/v1/services/sip/servers", R"({"address": "2001:2::1", "mark": 9})", 400, "address"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"weight": 70000})", 400, "weight"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"max_calls": 1000000001})", 400, "max_calls"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"max_calls": -1})", 400, "max_calls"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"min_calls": 3})", 400, "min_calls"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"max_calls": 2, "min_calls": 3})", 400,
       "min_calls"},
      {http::verb::post, "/v1/services/sip/servers", R"({"address": "198.18.1.8", "mark": 8, "max_calls": "x"})", 400,
       "max_calls"},
      {http::verb::patch, "/v1/services/sip", R"({"servers": [{"address": "198.18.1.1", "mark": 1, "min_calls": 1}]})",
       400, "servers[0].min_calls"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"mark": 2})", 409, "mark"},
      {http::verb::patch, "/v1/services/sip/servers/198.18.1.1", R"({"address": "198.18.1.9"})", 400, "address"},
      {http::verb::patch, "/v1/services/sip", R"({"name": "zzz"})", 400, "name"},
      {http::verb::patch, "/v1/services/sip", R"([1])", 400, ""},
      {http::verb::patch, "/v1/services/sip", R"({"health_check": {"timeout_ms": 5000}})", 400,
       "health_check.timeout_ms"},
      {http::verb::post, "/v1/services/sip/servers",
       R"({"address": "198.18.1.8", "mark": 8, "health_check": {"codes": [100]}})", 400, "health_check.codes[0]"},
      {http::verb::post, "/v1/services",
       R"({"name": "c", "vip": "198.18.2.9", "port": 5060,
           "servers": [{"address": "198.18.1.8", "mark": 8, "health_check": {"failures": 0}}]})", 400,
       "servers[0].health_check.failures"},
      {http::verb::put, "/v1/services/sip", R"({"name": "b", "vip": "198.18.2.9", "port": 5060})", 400, "name"},
      {http::verb::put, "/v1/services/b", R"({"vip": "198.18.2.100", "port": 5060})", 409, "vip"},
      {http::verb::put, "/v1/config", R"({"queues": 7})", 409, "queues"},
      {http::verb::put, "/v1/config", R"({"services": 1})", 400, "services"},
      {http::verb::put, "/v1/debug-level", R"({"level": 11})", 400, "level"},
      {http::verb::put, "/v1/debug-level", R"({"levle": 1})", 400, "levle"},
      {http::verb::get, "/v1/templates?limit=x", nullptr, 400, "query.limit"},
      {http::verb::get, "/v1/templates?calid=x", nullptr, 400, "query.calid"},
      {http::verb::get, "/v1/templates?server=1.2.3", nullptr, 400, "query.server"},
      {http::verb::delete_, "/v1/templates?limit=3", nullptr, 400, "query.limit"},
      {http::verb::get, "/v1/services/nope", nullptr, 404, nullptr},
      {http::verb::delete_, "/v1/services/nope/servers/198.18.1.1", nullptr, 404, nullptr},
      {http::verb::get, "/v2/anything", nullptr, 404, nullptr},
      {http::verb::get, "/v1/services/%zz", nullptr, 400, nullptr},
      {http::verb::delete_, "/v1/services", nullptr, 405, nullptr},
      {http::verb::post, "/v1/services/sip/servers/198.18.1.1", "{}", 405, nullptr},
  };
  for (const Case& c : cases) {
    CAPTURE(c.target);
    CAPTURE(c.body);
    const Response r = h.call(c.method, c.target, c.body ? std::optional<std::string>(c.body) : std::nullopt);
    CHECK(status(r) == c.status);
    const json p = problem(r);
    CHECK(p["status"] == c.status);
    CHECK(p["title"].is_string());
    CHECK(p["detail"].is_string());
    if (c.field) {
      CHECK(p.value("field", "<none>") == c.field);
    }
  }
  CHECK(h.call_json(http::verb::get, "/v1/config") == before);
  CHECK(h.control.generation() == generation);
}

TEST_CASE("call limits: max_calls and min_calls set by PATCH; GET shows live templates, overloaded, drained") {
  Harness h;
  const std::string rs = "/v1/services/sip/servers/198.18.1.1:5060";
  json r = h.call_json(http::verb::get, rs);
  CHECK(r["max_calls"] == 0);
  CHECK(r["min_calls"] == 0);
  CHECK(r["live_templates"] == 0);
  CHECK(r["overloaded"] == false);
  CHECK(r["drained"] == false);

  auto res = h.call(http::verb::patch, rs, R"({"max_calls": 2})");
  REQUIRE(status(res) == 200);
  CHECK(json::parse(res.body())["max_calls"] == 2);
  CHECK(h.engine.config().services[0].servers[0].max_calls == 2);
  auto w = h.engine.make_decider();
  for (int i = 0; i < 8; ++i) {  // rr: two on 198.18.1.1, then the rest on .2
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("c" + std::to_string(i)));
    w.decide(p, 0, sipvs::monotonic_seconds());
  }
  r = h.call_json(http::verb::get, rs);
  CHECK(r["live_templates"] == 2);
  CHECK(r["overloaded"] == true);
  const json listed = h.call_json(http::verb::get, "/v1/services")["services"][0]["servers"];
  CHECK(listed[0]["overloaded"] == true);
  CHECK(listed[1]["live_templates"] == 6);
  CHECK(listed[1]["overloaded"] == false);
  CHECK(h.call_json(http::verb::get, "/v1/services/sip")["servers"][0]["live_templates"] == 2);
  CHECK(h.call_json(http::verb::get, "/v1/services/sip/servers")["servers"][0]["overloaded"] == true);
  const json stats = h.call_json(http::verb::get, "/v1/stats")["services"][0];
  CHECK(stats["servers"][0]["overloaded"] == true);
  CHECK(stats["servers"][0]["drained"] == false);
  CHECK(stats["drops"]["servers_full"] == 0);

  // Drain: weight 0, the calls end, drained.
  REQUIRE(status(h.call(http::verb::patch, rs, R"({"weight": 0})")) == 200);
  CHECK(h.call_json(http::verb::get, rs)["drained"] == false);
  REQUIRE(status(h.call(http::verb::delete_, "/v1/templates?server=198.18.1.1:5060")) == 200);
  r = h.call_json(http::verb::get, rs);
  CHECK(r["live_templates"] == 0);
  CHECK(r["overloaded"] == false);
  CHECK(r["drained"] == true);
  CHECK(h.call_json(http::verb::get, "/v1/stats")["services"][0]["servers"][0]["drained"] == true);

  const std::string text = h.call(http::verb::get, "/metrics").body();
  const std::string labels = "{service=\"sip\",server=\"198.18.1.1:5060\"}";
  CHECK(text.find("sipvsd_server_max_calls" + labels + " 2\n") != std::string::npos);
  CHECK(text.find("sipvsd_server_overloaded" + labels + " 0\n") != std::string::npos);
  CHECK(text.find("sipvsd_server_drained" + labels + " 1\n") != std::string::npos);
  CHECK(text.find("sipvsd_service_servers_full_total{service=\"sip\"} 0\n") != std::string::npos);
}

TEST_CASE("call limits: a service whose every server is full places no new call, and says so") {
  Harness h;
  for (const char* rs : {"198.18.1.1", "198.18.1.2"})
    REQUIRE(status(h.call(http::verb::patch, std::string("/v1/services/sip/servers/") + rs, R"({"max_calls": 1})")) ==
            200);
  auto w = h.engine.make_decider();
  for (const char* id : {"a", "b", "c"}) {
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(id));
    w.decide(p, 0, sipvs::monotonic_seconds());
  }
  const json drops = h.call_json(http::verb::get, "/v1/stats")["services"][0]["drops"];
  CHECK(drops["no_server"] == 1);
  CHECK(drops["servers_full"] == 1);
  const std::string text = h.call(http::verb::get, "/metrics").body();
  CHECK(text.find("sipvsd_service_servers_full_total{service=\"sip\"} 1\n") != std::string::npos);
  CHECK(text.find("sipvsd_server_overloaded{service=\"sip\",server=\"198.18.1.2:5060\"} 1\n") != std::string::npos);
}

TEST_CASE("what GET shows of a server's state may be sent back: PUT and PATCH drop it") {
  Harness h;
  json service = h.call_json(http::verb::get, "/v1/services/sip");
  REQUIRE(service["servers"][0].contains("live_templates"));
  service["servers"][0]["max_calls"] = 50;
  auto r = h.call(http::verb::put, "/v1/services/sip", service.dump());
  CHECK(status(r) == 200);
  CHECK(h.engine.config().services[0].servers[0].max_calls == 50);
  r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.2:5060",
             R"({"max_calls": 9, "live_templates": 7, "overloaded": true, "drained": true})");
  CHECK(status(r) == 200);
  CHECK(h.engine.config().services[0].servers[1].max_calls == 9);
  CHECK(json::parse(r.body())["live_templates"] == 0);
  CHECK(json::parse(r.body())["overloaded"] == false);
  // The state file holds the configuration alone.
  const json saved = parse_json_text(*read_file_if_exists(h.dir.file("state.json")));
  CHECK(saved["services"][0]["servers"][1]["max_calls"] == 9);
  CHECK_FALSE(saved["services"][0]["servers"][1].contains("live_templates"));
  CHECK_FALSE(saved["services"][0]["servers"][1].contains("min_calls"));
}

TEST_CASE("405 lists the allowed methods; 415 for a body that is not JSON") {
  Harness h;
  Response r = h.call(http::verb::post, "/v1/services/sip");
  CHECK(status(r) == 405);
  CHECK(r[http::field::allow] == "GET, PUT, PATCH, DELETE");
  r = h.call(http::verb::put, "/healthz");
  CHECK(r[http::field::allow] == "GET");

  r = h.call(http::verb::post, "/v1/services", "name=x", "application/x-www-form-urlencoded");
  CHECK(status(r) == 415);
  r = h.call(http::verb::post, "/v1/services", R"({"name": "x"})", "");
  CHECK(status(r) == 415);
  r = h.call(http::verb::patch, "/v1/services/sip", "{}", "text/plain");
  CHECK(status(r) == 415);
  CHECK(r[http::field::accept_patch] == "application/json, application/merge-patch+json");
  // Parameters and case do not matter.
  r = h.call(http::verb::patch, "/v1/services/sip", "{}", "Application/JSON; charset=utf-8");
  CHECK(status(r) == 200);
}

TEST_CASE("bearer token: every route but /healthz") {
  Harness h("s3cret");
  CHECK(status(h.call(http::verb::get, "/healthz")) == 200);
  Response r = h.call(http::verb::get, "/v1/services");
  CHECK(status(r) == 401);
  CHECK(r[http::field::www_authenticate] == "Bearer realm=\"sipvsd\"");
  CHECK(status(h.call(http::verb::get, "/v1/services", std::nullopt, "", "Bearer wrong")) == 401);
  CHECK(status(h.call(http::verb::get, "/v1/services", std::nullopt, "", "Bearer s3cre")) == 401);
  CHECK(status(h.call(http::verb::get, "/v1/services", std::nullopt, "", "Bearer s3cret!")) == 401);
  CHECK(status(h.call(http::verb::get, "/v1/services", std::nullopt, "", "Basic s3cret")) == 401);
  CHECK(status(h.call(http::verb::get, "/v1/services", std::nullopt, "", "Bearer s3cret")) == 200);
  CHECK(status(h.call(http::verb::get, "/metrics", std::nullopt, "", "bearer s3cret")) == 200);
  // Unknown paths too: no probing without the token.
  CHECK(status(h.call(http::verb::get, "/v9/x")) == 401);
}

TEST_CASE("config: GET, PUT it back, GET again is the same; PUT changes services") {
  Harness h;
  const Response got = h.call(http::verb::get, "/v1/config");
  const auto generation = h.control.generation();
  CHECK(status(h.call(http::verb::put, "/v1/config", got.body())) == 200);
  CHECK(h.call(http::verb::get, "/v1/config").body() == got.body());
  CHECK(h.control.generation() == generation + 1);

  json c = json::parse(got.body());
  c["services"][0]["servers"].erase(0);
  c["unplaced"] = "drop";
  CHECK(status(h.call(http::verb::put, "/v1/config", c.dump())) == 200);
  CHECK(h.engine.config().services[0].servers.size() == 1);
  CHECK(h.control.config().unplaced == DaemonConfig::Unplaced::drop);
}

TEST_CASE("debug level") {
  Harness h;
  CHECK(status(h.call(http::verb::put, "/v1/debug-level", R"({"level": 4})")) == 200);
  CHECK(h.call_json(http::verb::get, "/v1/debug-level")["level"] == 4);
  CHECK(h.call_json(http::verb::get, "/v1/config")["debug_level"] == 4);
  CHECK(status(h.call(http::verb::put, "/v1/debug-level", R"({"level": 0})")) == 200);
  CHECK(sipvsd::log::debug_level() == 0);
}

TEST_CASE("templates: filters, paging, text listing, flush") {
  Harness h;
  auto w = h.engine.make_decider();
  for (int i = 0; i < 30; ++i) {
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060,
                                    test::invite("call-" + std::to_string(i) + "@example"));
    REQUIRE(w.decide(p, 0, sipvs::monotonic_seconds()).template_created);
  }
  json page = h.call_json(http::verb::get, "/v1/templates?limit=20");
  CHECK(page["templates"].size() == 20);
  CHECK(page["next_offset"] == 20);
  page = h.call_json(http::verb::get, "/v1/templates?limit=20&offset=20");
  CHECK(page["templates"].size() == 10);
  CHECK_FALSE(page.contains("next_offset"));

  page = h.call_json(http::verb::get, "/v1/templates?callid=call-7%40example");
  REQUIRE(page["templates"].size() == 1);
  const json t = page["templates"][0];
  CHECK(t["service"] == "sip");
  CHECK(t["pe_name"] == "sip");
  CHECK(t["pe_data"] == "call-7@example");
  CHECK(t["client"] == "0.0.0.0");  // netmask 0.0.0.0: the client address is masked out
  CHECK(t["expires_in"] <= 120);
  CHECK(h.call_json(http::verb::get, "/v1/templates?service=nope")["templates"].empty());
  CHECK(h.call_json(http::verb::get, "/v1/templates?client=0.0.0.0&limit=100")["templates"].size() == 30);

  const Response text = h.call(http::verb::get, "/v1/templates?format=text&callid=call-7@example");
  CHECK(status(text) == 200);
  CHECK(text[http::field::content_type] == "text/plain; charset=utf-8");
  const std::string body = text.body();
  CHECK(body.rfind("pro  expire state  source", 0) == 0);
  const std::string line = body.substr(body.find('\n') + 1);
  // 120 s as mm:ss, or 119 s when the clock's second turned since the calls were placed.
  CHECK((line.rfind("UDP  02:00  UDP ", 0) == 0 || line.rfind("UDP  01:59  UDP ", 0) == 0));
  CHECK(line.find(" 0.0.0.0:0 ") != std::string::npos);
  CHECK(line.find(" 198.18.2.100:5060 ") != std::string::npos);
  CHECK(line.find(" " + t["server"].get<std::string>()) != std::string::npos);
  CHECK(line.find(" sip     call-7@example\n") != std::string::npos);

  CHECK(h.call_json(http::verb::delete_, "/v1/templates?callid=call-7@example")["flushed"] == 1);
  CHECK(h.call_json(http::verb::delete_, "/v1/templates")["flushed"] == 29);
  CHECK(h.engine.template_count() == 0);
}

TEST_CASE("stats and metrics") {
  Harness h;
  auto w = h.engine.make_decider();
  const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("one"));
  w.decide(p, 0, sipvs::monotonic_seconds());

  const json s = h.call_json(http::verb::get, "/v1/stats");
  CHECK(s["packets"] == 1);
  CHECK(s["templates"]["live"] == 1);
  REQUIRE(s["services"].size() == 1);
  CHECK(s["services"][0]["name"] == "sip");
  CHECK(s["services"][0]["packets"] == 1);
  CHECK(s["services"][0]["servers"].size() == 2);
  CHECK(s["services"][0]["rates"].contains("packets_per_second"));
  CHECK(s["services"][0]["pe_fallbacks_by_reason"].contains("absent"));

  const Response m = h.call(http::verb::get, "/metrics");
  CHECK(m[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  const std::string text = m.body();
  CHECK(text.find("sipvsd_packets_total 1\n") != std::string::npos);
  CHECK(text.find("sipvsd_service_packets_total{service=\"sip\"} 1\n") != std::string::npos);
  CHECK(text.find("sipvsd_server_weight{service=\"sip\",server=\"198.18.1.1:5060\"} 1\n") != std::string::npos);
  // Every sample belongs to the family declared last (HELP, TYPE, samples).
  std::string family;
  std::size_t samples = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      CHECK(family.rfind("sipvsd_", 0) == 0);
    } else if (line.rfind("# HELP ", 0) != 0) {
      CAPTURE(line);
      CHECK(line.rfind(family, 0) == 0);
      CHECK((line[family.size()] == ' ' || line[family.size()] == '{'));
      ++samples;
    }
  }
  CHECK(samples > 20);
}

TEST_CASE("rates: the change of the counters over the sampling interval") {
  Harness h;
  auto w = h.engine.make_decider();
  const auto t0 = std::chrono::steady_clock::now();
  h.rates.sample(h.engine.stats(), t0);
  for (int i = 0; i < 10; ++i) {
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("r" + std::to_string(i)));
    w.decide(p, 0, sipvs::monotonic_seconds());
  }
  h.rates.sample(h.engine.stats(), t0 + std::chrono::seconds(2));
  CHECK(h.rates.service("sip").packets_per_second == doctest::Approx(5.0));
  CHECK(h.rates.service("sip").bytes_per_second > 0);
}

TEST_CASE("server ids") {
  auto id = [](const char* text) {
    auto r = parse_server_id(text);
    return r ? server_id(r->address, r->port.value_or(0)) + (r->port ? "" : " (any port)") : std::string("bad");
  };
  CHECK(id("198.18.1.1") == "198.18.1.1 (any port)");
  CHECK(id("198.18.1.1:5060") == "198.18.1.1:5060");
  CHECK(id("2001:2::1") == "2001:2::1 (any port)");
  CHECK(id("[2001:2::1]") == "2001:2::1 (any port)");
  CHECK(id("[2001:2::1]:5060") == "[2001:2::1]:5060");
  for (const char* bad : {"", "x", "198.18.1.1:", "198.18.1.1:65536", "[2001:2::1", "[2001:2::1]5060", "1.2.3.4:5:6",
                          "198.18.1.1:-1", ":5060"}) {
    CAPTURE(bad);
    CHECK(id(bad) == "bad");
  }
}

TEST_CASE("a weight out of range is told one way, however far out") {
  Harness h;
  for (const char* weight : {"65536", "4294967295", "4294967296"}) {
    CAPTURE(weight);
    const Response r = h.call(http::verb::patch, "/v1/services/sip/servers/198.18.1.1",
                              std::string(R"({"weight": )") + weight + "}");
    CHECK(status(r) == 400);
    CHECK(problem(r)["field"] == "weight");
    CHECK(problem(r)["detail"] == "must be between 0 and 65535");
  }
}

TEST_CASE("/healthz does not wait for a change in progress") {
  Harness h;
  std::promise<void> entered, release;
  // A change that holds the control plane, as a slow state-file fsync does.
  std::thread change([&] {
    h.control.update([&](DaemonConfig&) {
      entered.set_value();
      release.get_future().wait_for(std::chrono::seconds(10));
    });
  });
  entered.get_future().wait();
  auto health = std::async(std::launch::async, [&] { return h.call(http::verb::get, "/healthz"); });
  const bool answered = health.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  release.set_value();
  change.join();
  REQUIRE(answered);
  const Response r = health.get();
  CHECK(status(r) == 200);
  CHECK(json::parse(r.body())["services"] == 1);
}
