// The daemon configuration file: schema, every error path, round trip.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "config_errors.hpp"
#include "daemon/config/api_config.hpp"
#include "daemon/config/config_file.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/queue_spec.hpp"
#include "daemon/config/service_json.hpp"

using nlohmann::json;
using sipvsd::ConfigFieldError;
using sipvsd::DaemonConfig;

using test::error_field;
using test::error_reason;

namespace {

const char* kExample = R"({ "queues": "0-1", "queue_maxlen": 8192, "mark_mask": "0x0000ffff", "unplaced": "accept",
  "max_templates": 1000000, "udp_timeout": 300, "debug_level": 0,
  "state_file": "/var/lib/sipvsd/state.json", "forwarding": "none",
  "api": { "listen": "127.0.0.1:8080", "unix_socket": "", "token_file": "" },
  "services": [ { "name": "sip", "protocol": "udp", "vip": "198.18.2.100", "port": 5060,
      "scheduler": "mh", "persistence_timeout": 300, "netmask": "0.0.0.0", "one_packet": true,
      "pe": "sip", "pe_param": "",
      "servers": [ { "address": "198.18.1.1", "port": 5060, "weight": 1, "mark": 1 } ] },
    { "name": "by-mark", "fwmark": 7, "scheduler": "rr", "servers": [] } ] })";

json example() { return json::parse(kExample); }

json minimal_service() {
  return json{{"name", "s"},       {"vip", "198.18.2.100"}, {"port", 5060},
              {"scheduler", "rr"}, {"servers", json::array({json{{"address", "198.18.1.1"}, {"mark", 1}}})}};
}

json with_service(const json& s) { return json{{"services", json::array({s})}}; }

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/sipvsd-test-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

std::string load_error(const std::string& text) {
  TempFile f(text);
  try {
    sipvsd::load_config_file(f.path);
  } catch (const sipvsd::UnusableFile& e) {
    std::string m = e.what();
    REQUIRE(m.rfind(f.path, 0) == 0);  // starts with the path
    return m.substr(f.path.size());
  }
  return "";
}

}  // namespace

TEST_CASE("the documented example parses into the expected values") {
  const DaemonConfig c = sipvsd::parse_config(example());
  CHECK(c.queues == std::vector<uint16_t>{0, 1});
  CHECK(c.queue_maxlen == 8192);
  CHECK(c.mark_mask == 0x0000ffffu);
  CHECK(c.unplaced == DaemonConfig::Unplaced::accept);
  CHECK(c.engine.max_templates == 1000000);
  CHECK(c.engine.udp_timeout == 300);
  CHECK(c.debug_level == 0);
  CHECK(c.state_file == "/var/lib/sipvsd/state.json");
  CHECK(c.forwarding == sipvsd::ForwardingKind::none);
  CHECK(c.api.listen == "127.0.0.1:8080");
  REQUIRE(c.engine.services.size() == 2);
  const auto& s = c.engine.services[0];
  CHECK(s.name == "sip");
  CHECK(s.protocol == 17);
  CHECK(s.vip == *sipvs::IpAddress::parse("198.18.2.100"));
  CHECK(s.port == 5060);
  CHECK(s.scheduler == "mh");
  CHECK(s.persistence_timeout == 300);
  CHECK(s.netmask == 0u);
  CHECK(s.one_packet);
  CHECK(s.pe == "sip");
  REQUIRE(s.servers.size() == 1);
  CHECK(s.servers[0].address == *sipvs::IpAddress::parse("198.18.1.1"));
  CHECK(s.servers[0].port == 5060);
  CHECK(s.servers[0].weight == 1);
  CHECK(s.servers[0].mark == 1);
  const auto& f = c.engine.services[1];
  CHECK(f.is_fwmark());
  CHECK(f.fwmark == 7);
  CHECK(f.servers.empty());
}

TEST_CASE("defaults: an empty object is a valid configuration") {
  const DaemonConfig c = sipvsd::parse_config(json::object());
  CHECK(c == DaemonConfig{});
  CHECK(c.queues == std::vector<uint16_t>{0});
  CHECK(c.mark_mask == 0xffffffffu);
  CHECK(c.queue_maxlen == 8192);
  CHECK(c.unplaced == DaemonConfig::Unplaced::accept);
  CHECK(c.forwarding == sipvsd::ForwardingKind::none);
  auto s = sipvsd::service_from_json(json{{"name", "x"}, {"vip", "198.18.2.1"}, {"port", 5060}}, "services[0]");
  CHECK(s.scheduler == "wlc");
  CHECK(s.protocol == 17);
  CHECK_FALSE(s.netmask.has_value());
  auto r = sipvsd::server_from_json(json{{"address", "198.18.1.1"}, {"mark", 3}}, "x");
  CHECK(r.port == 0);
  CHECK(r.weight == 1);
}

TEST_CASE("round trip: parse(to_json(c)) == c") {
  SUBCASE("the example") {
    const DaemonConfig c = sipvsd::parse_config(example());
    const json j = sipvsd::to_json(c);
    CHECK(sipvsd::parse_config(j) == c);
    CHECK(sipvsd::to_json(sipvsd::parse_config(j)) == j);
    CHECK(j["mark_mask"] == "0x0000ffff");
    CHECK(j["queues"] == "0-1");
    CHECK(j["services"][0]["netmask"] == "0.0.0.0");
    CHECK(j["services"][1]["fwmark"] == 7);
    CHECK_FALSE(j["services"][1].contains("vip"));
  }
  SUBCASE("IPv6, drop policy, odd queues, netmask as a prefix") {
    json j = with_service(json{{"name", "v6"},
                               {"vip", "2001:2:0:2::100"},
                               {"port", 5060},
                               {"scheduler", "wrr"},
                               {"persistence_timeout", 60},
                               {"netmask", 64},
                               {"pe", "sip"},
                               {"servers", json::array({json{{"address", "2001:2:0:1::1"}, {"weight", 0}, {"mark", "0x10"}},
                                                        json{{"address", "2001:2:0:1::2"}, {"port", 5070}, {"mark", 17}}})}});
    j["queues"] = json::array({4, 0, 2});
    j["unplaced"] = "drop";
    j["debug_level"] = 10;
    j["forwarding"] = "route";
    j["api"] = json{{"listen", ""}, {"unix_socket", "/run/sipvsd.sock"}, {"token_file", "/etc/sipvsd/token"}};
    const DaemonConfig c = sipvsd::parse_config(j);
    CHECK(c.queues == std::vector<uint16_t>{0, 2, 4});
    CHECK(c.engine.services[0].netmask == 64u);
    CHECK(c.engine.services[0].servers[0].mark == 16);
    const json out = sipvsd::to_json(c);
    CHECK(out["queues"] == "0,2,4");
    CHECK(out["services"][0]["netmask"] == 64);
    CHECK(sipvsd::parse_config(out) == c);
  }
  SUBCASE("a dotted mask comes back dotted for IPv4") {
    json s = minimal_service();
    s["persistence_timeout"] = 60;
    s["netmask"] = "255.255.255.0";
    const DaemonConfig c = sipvsd::parse_config(with_service(s));
    CHECK(c.engine.services[0].netmask == 24u);
    CHECK(sipvsd::to_json(c)["services"][0]["netmask"] == "255.255.255.0");
    CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);
  }
  SUBCASE("per resource functions round trip too") {
    const DaemonConfig c = sipvsd::parse_config(example());
    for (const auto& s : c.engine.services)
      CHECK(sipvsd::service_from_json(sipvsd::service_to_json(s), "s") == s);
    const auto& r = c.engine.services[0].servers[0];
    CHECK(sipvsd::server_from_json(sipvsd::server_to_json(r), "r") == r);
    CHECK(sipvsd::api_from_json(sipvsd::api_to_json(c.api), "api") == c.api);
  }
  SUBCASE("call limits: written only when set, so that a server without them is written as before") {
    json s = minimal_service();
    s["servers"][0]["max_calls"] = 100;
    s["servers"][0]["min_calls"] = 60;
    s["servers"].push_back(json{{"address", "198.18.1.2"}, {"mark", 2}, {"max_calls", 10}});
    const DaemonConfig c = sipvsd::parse_config(with_service(s));
    CHECK(c.engine.services[0].servers[0].max_calls == 100);
    CHECK(c.engine.services[0].servers[0].min_calls == 60);
    CHECK(c.engine.services[0].servers[1].min_calls == 0);
    const json out = sipvsd::to_json(c);
    CHECK(out["services"][0]["servers"][0]["max_calls"] == 100);
    CHECK(out["services"][0]["servers"][0]["min_calls"] == 60);
    CHECK_FALSE(out["services"][0]["servers"][1].contains("min_calls"));
    CHECK(sipvsd::parse_config(out) == c);
    CHECK_FALSE(sipvsd::to_json(sipvsd::parse_config(example()))["services"][0]["servers"][0].contains("max_calls"));
  }
  SUBCASE("equality sees every difference") {
    const DaemonConfig a = sipvsd::parse_config(example());
    DaemonConfig b = a;
    b.engine.services[0].servers[0].weight = 2;
    CHECK_FALSE(a == b);
    b = a;
    b.engine.services[0].netmask.reset();
    CHECK_FALSE(a == b);
    b = a;
    b.engine.services[0].servers[0].max_calls = 5;
    CHECK_FALSE(a == b);
    b = a;
    b.api.token_file = "x";
    CHECK_FALSE(a == b);
  }
}

TEST_CASE("queues: a range string, an array or a number") {
  auto q = [](json v) { return sipvsd::parse_config(json{{"queues", v}}).queues; };
  CHECK(q("0-1") == std::vector<uint16_t>{0, 1});
  CHECK(q("3") == std::vector<uint16_t>{3});
  CHECK(q("0,2-3") == std::vector<uint16_t>{0, 2, 3});
  CHECK(q(json::array({1, 0})) == std::vector<uint16_t>{0, 1});
  CHECK(q(7) == std::vector<uint16_t>{7});
  CHECK(q(65535) == std::vector<uint16_t>{65535});
  for (json bad : {json("1-0"), json("a"), json(""), json("0-"), json("0,,1"), json("0-40"), json("0,0"),
                   json(-1), json(70000), json(1.5), json(true), json::array({0, 0}), json::array({"0"}),
                   json::array()}) {
    CAPTURE(bad.dump());
    CHECK(error_field(json{{"queues", bad}}).rfind("queues", 0) == 0);
  }
  CHECK(sipvsd::parse_queue_spec("2-4,9") == std::vector<uint16_t>{2, 3, 4, 9});
  CHECK(sipvsd::queue_spec_to_string({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
  CHECK_THROWS_AS(sipvsd::parse_queue_spec("x"), std::invalid_argument);
}

TEST_CASE("marks and mark_mask: numbers or 0x strings, within the mask") {
  auto mask = [](json v) { return sipvsd::parse_config(json{{"mark_mask", v}}).mark_mask; };
  CHECK(mask("0x0000ffff") == 0xffffu);
  CHECK(mask("0XFF") == 0xffu);
  CHECK(mask(65535) == 0xffffu);
  CHECK(mask("65535") == 0xffffu);
  CHECK(mask("0xffffffff") == 0xffffffffu);
  for (json bad : {json("0xzz"), json("0x"), json("0x1ffffffff"), json("4294967296"), json("-1"), json(-1),
                   json(1.5), json(true), json(4294967296ull), json(nullptr)}) {
    CAPTURE(bad.dump());
    CHECK(error_field(json{{"mark_mask", bad}}) == "mark_mask");
  }
  CHECK(error_field(json{{"mark_mask", 0}}) == "mark_mask");

  json s = minimal_service();
  s["servers"][0]["mark"] = "0x10000";
  json j = with_service(s);
  j["mark_mask"] = "0xffff";
  CHECK(error_field(j) == "services[0].servers[0].mark");
  CHECK(error_reason(j).find("outside mark_mask") != std::string::npos);

  s = minimal_service();
  s["servers"][0]["mark"] = "seven";
  CHECK(error_field(with_service(s)) == "services[0].servers[0].mark");
  s["servers"][0]["mark"] = 0;
  CHECK(error_field(with_service(s)) == "services[0].servers[0].mark");
  s["servers"][0]["mark"] = json::array();
  CHECK(error_field(with_service(s)) == "services[0].servers[0].mark");
}

TEST_CASE("unknown keys are errors at every level") {
  json j = example();
  j["queue"] = "0";
  CHECK(error_field(j) == "queue");
  CHECK(error_reason(j).find("unknown key") != std::string::npos);
  j = example();
  j["services"][1]["vips"] = "x";
  CHECK(error_field(j) == "services[1].vips");
  j = example();
  j["services"][0]["servers"][0]["wieght"] = 2;
  CHECK(error_field(j) == "services[0].servers[0].wieght");
  j = example();
  j["api"]["port"] = 1;
  CHECK(error_field(j) == "api.port");
}

TEST_CASE("wrong types and bad values name their field") {
  struct Case {
    const char* pointer;
    json value;
    const char* field;
  };
  const Case cases[] = {
      {"/queue_maxlen", 0, "queue_maxlen"},
      {"/queue_maxlen", "8192", "queue_maxlen"},
      {"/unplaced", "maybe", "unplaced"},
      {"/unplaced", 1, "unplaced"},
      {"/max_templates", -5, "max_templates"},
      {"/max_templates", 0, "max_templates"},
      {"/udp_timeout", 0, "udp_timeout"},
      {"/udp_timeout", 4294967296ull, "udp_timeout"},
      {"/debug_level", 11, "debug_level"},
      {"/state_file", 3, "state_file"},
      {"/forwarding", "bgp", "forwarding"},
      {"/api", "127.0.0.1:80", "api"},
      {"/api/listen", 8080, "api.listen"},
      {"/services", json::object(), "services"},
      {"/services/0", "sip", "services[0]"},
      {"/services/0/name", 5, "services[0].name"},
      {"/services/0/name", "", "services[0].name"},
      {"/services/0/name", "has space", "services[0].name"},
      {"/services/0/vip", "198.18.2.300", "services[0].vip"},
      {"/services/0/vip", "vip.example", "services[0].vip"},
      {"/services/0/port", "5060", "services[0].port"},
      {"/services/0/port", 65536, "services[0].port"},
      {"/services/0/port", 0, "services[0].port"},
      {"/services/0/protocol", "icmp", "services[0].protocol"},
      {"/services/0/protocol", "tcp", "services[0].protocol"},
      {"/services/0/scheduler", "fastest", "services[0].scheduler"},
      {"/services/0/persistence_timeout", -1, "services[0].persistence_timeout"},
      {"/services/0/persistence_timeout", 0, "services[0].persistence_timeout"},  // pe needs persistence
      {"/services/0/netmask", "255.0.255.0", "services[0].netmask"},
      {"/services/0/netmask", 33, "services[0].netmask"},
      {"/services/0/netmask", "ffff::", "services[0].netmask"},
      {"/services/0/netmask", true, "services[0].netmask"},
      {"/services/0/one_packet", "yes", "services[0].one_packet"},
      {"/services/0/pe", "h323", "services[0].pe"},
      {"/services/0/pe_param", 1, "services[0].pe_param"},
      {"/services/0/servers", json::object(), "services[0].servers"},
      {"/services/0/servers/0", 1, "services[0].servers[0]"},
      {"/services/0/servers/0/address", "198.18.1", "services[0].servers[0].address"},
      {"/services/0/servers/0/address", "2001:2::1", "services[0].servers[0].address"},  // family differs
      {"/services/0/servers/0/port", 70000, "services[0].servers[0].port"},
      {"/services/0/servers/0/weight", 65536, "services[0].servers[0].weight"},
      {"/services/0/servers/0/weight", -1, "services[0].servers[0].weight"},
      {"/services/0/servers/0/max_calls", -1, "services[0].servers[0].max_calls"},
      {"/services/0/servers/0/max_calls", 1000000001, "services[0].servers[0].max_calls"},
      {"/services/0/servers/0/max_calls", "10", "services[0].servers[0].max_calls"},
      {"/services/0/servers/0/min_calls", 1.5, "services[0].servers[0].min_calls"},
      {"/services/0/servers/0/min_calls", 5, "services[0].servers[0].min_calls"},  // without max_calls
      {"/services/1/fwmark", 0, "services[1].fwmark"},
      {"/services/1/fwmark", "0xg", "services[1].fwmark"},
  };
  for (const Case& c : cases) {
    json j = example();
    j[json::json_pointer(c.pointer)] = c.value;
    CAPTURE(c.pointer);
    CAPTURE(c.value.dump());
    CHECK(error_field(j) == c.field);
  }
  json j = example();
  j.erase("services");
  j["services"] = json::array({json{{"name", "x"}, {"vip", "198.18.2.1"}, {"port", 1}, {"servers", {json::object()}}}});
  CHECK(error_field(j) == "services[0].servers[0].address");
}

TEST_CASE("a service has either vip+port or fwmark") {
  json s = minimal_service();
  s["fwmark"] = 7;
  CHECK(error_field(with_service(s)) == "services[0].vip");
  s = minimal_service();
  s.erase("vip");
  CHECK(error_field(with_service(s)) == "services[0].vip");
  s = minimal_service();
  s.erase("port");
  CHECK(error_field(with_service(s)) == "services[0].port");
  s = minimal_service();
  s.erase("name");
  CHECK(error_field(with_service(s)) == "services[0].name");
  s = minimal_service();
  s["servers"][0].erase("mark");
  CHECK(error_field(with_service(s)) == "services[0].servers[0].mark");
  json f = {{"name", "m"}, {"fwmark", "0x7"}, {"protocol", "udp"}};
  CHECK(error_field(with_service(f)) == "services[0].protocol");
  f.erase("protocol");
  CHECK(sipvsd::parse_config(with_service(f)).engine.services[0].fwmark == 7);
}

TEST_CASE("duplicates across objects: the engine's checks run too") {
  json j = example();
  j["services"][1]["name"] = "sip";
  CHECK(error_field(j) == "services[1].name");
  j = example();
  j["services"][1]["servers"] = json::array({json{{"address", "198.18.1.9"}, {"mark", 1}}});
  CHECK(error_field(j) == "services[1].servers[0].mark");
  CHECK(error_reason(j).find("already used") != std::string::npos);
  j = example();
  j["services"][0]["servers"].push_back(json{{"address", "198.18.1.1"}, {"port", 5060}, {"mark", 2}});
  CHECK(error_field(j) == "services[0].servers[1]");
  j = example();
  j["services"][1] = j["services"][0];
  j["services"][1]["name"] = "sip2";
  j["services"][1]["servers"][0]["mark"] = 2;
  CHECK(error_field(j) == "services[1]");  // same VIP and port
  j = example();
  j["services"].push_back(json{{"name", "again"}, {"fwmark", 7}});
  CHECK(error_field(j) == "services[2].fwmark");
}

TEST_CASE("load_config_file: path:line:column for syntax, path: field: reason for values") {
  CHECK(load_error(kExample) == "");
  CHECK(load_error("{\n\n  \"queues\": [0,\n}") .rfind(":4:1: ", 0) == 0);
  CHECK(load_error("{\"queues\": \"0-1\", \"bogus\": 1}").rfind(": bogus: unknown key", 0) == 0);
  CHECK(load_error("{\"services\": [{\"name\": \"a\", \"vip\": \"198.18.2.999\", \"port\": 5060}]}")
            .rfind(": services[0].vip: \"198.18.2.999\" is not an IPv4 or IPv6 address", 0) == 0);
  CHECK(load_error("{\"debug_level\": 1, \"debug_level\": 2}") == ": debug_level: duplicate key");
  CHECK(load_error("[]") == ": config: must be a JSON object");
  try {
    sipvsd::load_config_file("/nonexistent/sipvsd.json");
    FAIL("no error");
  } catch (const sipvsd::UnusableFile& e) {
    CHECK(std::string(e.what()) == "/nonexistent/sipvsd.json: cannot read: No such file or directory");
  }
  // JSON nested too deep (test_json_text.cpp) is refused with the path of the file.
  auto nested = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  const std::string error = load_error("{\"services\": " + nested(100000) + "}");
  CHECK(error.rfind(": services[0][0]", 0) == 0);
  CHECK(std::string_view(error).ends_with(": nested deeper than 32 levels"));
}

TEST_CASE("strings: a huge value is refused without being echoed; a long name likewise") {
  json s = minimal_service();
  s["name"] = std::string(900 * 1024, 'x');
  CHECK(error_field(with_service(s)) == "services[0].name");
  CHECK(test::error_reason(with_service(s)) == "is 921600 bytes long, at most 4096 are taken");
  s["name"] = std::string(65, 'x');
  CHECK(test::error_reason(with_service(s)) == "must be 1-64 characters long, not 65");
  s["name"] = std::string(64, 'x');
  CHECK(error_field(with_service(s)) == "");
  json j = with_service(minimal_service());
  j["state_file"] = std::string(5000, '/');
  CHECK(error_field(j) == "state_file");
}

TEST_CASE("forwarding: ipvs needs the whole mark (IPVS compares all 32 bits)") {
  json j = with_service(minimal_service());
  j["forwarding"] = "ipvs";
  CHECK(error_field(j) == "");
  j["mark_mask"] = "0x0000ffff";
  CHECK(error_field(j) == "mark_mask");
  j["forwarding"] = "route";
  CHECK(error_field(j) == "");
}

TEST_CASE("per-source prefixes and the templates write interval: parsed, range-checked, round-tripped") {
  json j = with_service(minimal_service());
  const DaemonConfig defaults = sipvsd::parse_config(j);
  CHECK(defaults.engine.per_source_prefix_v4 == 32);
  CHECK(defaults.engine.per_source_prefix_v6 == 64);
  CHECK(defaults.templates_save_interval == 10);
  j["per_source_prefix_v4"] = 24;
  j["per_source_prefix_v6"] = 48;
  j["templates_save_interval"] = 0;
  const DaemonConfig c = sipvsd::parse_config(j);
  CHECK(c.engine.per_source_prefix_v4 == 24);
  CHECK(c.engine.per_source_prefix_v6 == 48);
  CHECK(c.templates_save_interval == 0);
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);
  CHECK_FALSE(c == defaults);
  j["per_source_prefix_v4"] = 33;
  CHECK(error_field(j) == "per_source_prefix_v4");
  j["per_source_prefix_v4"] = 32;
  j["per_source_prefix_v6"] = 129;
  CHECK(error_field(j) == "per_source_prefix_v6");
  j["per_source_prefix_v6"] = 64;
  j["templates_save_interval"] = 86401;
  CHECK(error_field(j) == "templates_save_interval");
}
