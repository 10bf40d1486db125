// The configuration the forwarding back-ends read: per-server `forward`,
// `forwarding_options`, and what is refused before any back-end runs.
#include <doctest/doctest.h>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/forwarding/forwarding.hpp"
#include "daemon/forwarding/targets.hpp"

using nlohmann::json;
using sipvsd::ConfigFieldError;
using sipvsd::DaemonConfig;

namespace {

json config(const char* forwarding, const char* forward) {
  json server = {{"address", "198.18.3.2"}, {"mark", 1}};
  if (forward) server["forward"] = forward;
  // IPVS compares the whole mark: ipvs needs the full mask.
  return json{{"mark_mask", std::string(forwarding) == "ipvs" ? "0xffffffff" : "0xff"},
              {"forwarding", forwarding},
              {"services", json::array({json{{"name", "sip"},
                                             {"vip", "198.18.2.100"},
                                             {"port", 5060},
                                             {"servers", json::array({server})}}})}};
}

std::string error_of(const json& j) {
  try {
    sipvsd::parse_config(j);
  } catch (const ConfigFieldError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config: forward defaults to dr, takes tun, round-trips") {
  DaemonConfig c = sipvsd::parse_config(config("ipvs", nullptr));
  CHECK(c.engine.services[0].servers[0].forward == sipvs::Forward::dr);
  c = sipvsd::parse_config(config("ipvs", "tun"));
  CHECK(c.engine.services[0].servers[0].forward == sipvs::Forward::tun);
  CHECK(sipvsd::to_json(c)["services"][0]["servers"][0]["forward"] == "tun");
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);
  DaemonConfig d = c;
  d.engine.services[0].servers[0].forward = sipvs::Forward::dr;
  CHECK_FALSE(d == c);
  CHECK(error_of(config("ipvs", "nat")).find("servers[0].forward: \"nat\" is not one of dr, tun, masq") !=
        std::string::npos);
}

TEST_CASE("config: masq is refused with the reason and the alternatives") {
  for (const char* fwd : {"none", "route", "ipvs"}) {
    const std::string e = error_of(config(fwd, "masq"));
    CHECK(e.find("services[0].servers[0].forward: masq is not supported") == 0);
    CHECK(e.find("one-packet scheduling (-o)") != std::string::npos);
    CHECK(e.find("would not be translated back") != std::string::npos);
    CHECK(e.find("ipvsadm -g") != std::string::npos);
    CHECK(e.find("(tunnelling, -i)") != std::string::npos);
  }
}

TEST_CASE("config: tun needs ipvs") {
  CHECK(error_of(config("route", "tun")).find("tun needs forwarding: ipvs") != std::string::npos);
  CHECK(error_of(config("none", "tun")).empty());
  CHECK(error_of(config("ipvs", "tun")).empty());
}

TEST_CASE("config: forwarding_options") {
  json j = config("route", nullptr);
  DaemonConfig c = sipvsd::parse_config(j);
  CHECK(c.forwarding_options.table_base == 20000);
  CHECK(c.forwarding_options.priority_base == 20000);
  CHECK_FALSE(c.forwarding_options.remove_on_exit);

  j["forwarding_options"] = {{"table_base", 1000}, {"priority_base", 5000}, {"remove_on_exit", true}};
  c = sipvsd::parse_config(j);
  CHECK(c.forwarding_options.table_base == 1000);
  CHECK(c.forwarding_options.priority_base == 5000);
  CHECK(c.forwarding_options.remove_on_exit);
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);

  j["forwarding_options"] = {{"table_base", 200}};  // 200..4295 holds 253-255
  CHECK(error_of(j).find("forwarding_options.table_base") == 0);
  j["forwarding_options"] = {{"table_base", 0}};
  CHECK(error_of(j).find("forwarding_options.table_base") == 0);
  j["forwarding_options"] = {{"priority_base", 30000}};  // would pass the main table's 32766
  CHECK(error_of(j).find("forwarding_options.priority_base") == 0);
  j["forwarding_options"] = {{"priority", 1}};
  CHECK(error_of(j).find("forwarding_options.priority: unknown key") == 0);
}

TEST_CASE("make_forwarding: none needs no kernel; an unknown kind is an error") {
  DaemonConfig c;
  CHECK(sipvsd::make_forwarding(c)->name() == "none");
  c.forwarding = static_cast<sipvsd::ForwardingKind>(99);  // none of the kinds
  CHECK_THROWS_AS(sipvsd::make_forwarding(c), sipvsd::ForwardingError);
  CHECK(std::string(sipvsd::kNoIpvsMessage) ==
        "the kernel has no IPVS: load ip_vs (modprobe ip_vs) or use forwarding: route");
}

TEST_CASE("forwarding_during_change: the new servers and those leaving, until the engine switched") {
  DaemonConfig running;
  running.forwarding = sipvsd::ForwardingKind::route;
  sipvs::ServiceConfig s;
  s.name = "sip";
  s.vip = *sipvs::IpAddress::parse("198.18.2.100");
  s.port = 5060;
  for (uint32_t m = 1; m <= 3; ++m) {
    sipvs::RealServerConfig r;
    r.address = *sipvs::IpAddress::parse(("198.18.3." + std::to_string(m)).c_str());
    r.mark = m;
    s.servers.push_back(r);
  }
  running.engine.services.push_back(s);
  DaemonConfig next = running;
  next.engine.services[0].servers.erase(next.engine.services[0].servers.begin() + 1);  // mark 2 leaves
  sipvs::RealServerConfig added;
  added.address = *sipvs::IpAddress::parse("198.18.3.9");
  added.mark = 9;
  next.engine.services[0].servers.push_back(added);

  const auto marks = [](const DaemonConfig& c) {
    std::vector<uint32_t> m;
    for (const auto& t : sipvsd::fwd::targets(c)) m.push_back(t.mark);
    return m;
  };
  const DaemonConfig both = sipvsd::forwarding_during_change(running, next);
  CHECK(marks(both) == std::vector<uint32_t>{1, 2, 3, 9});
  CHECK(marks(sipvsd::forwarding_during_change(running, running)) == std::vector<uint32_t>{1, 2, 3});
  // Another back-end or another mask: no overlap, the controller starts over.
  DaemonConfig other = next;
  other.forwarding = sipvsd::ForwardingKind::ipvs;
  CHECK(marks(sipvsd::forwarding_during_change(running, other)) == std::vector<uint32_t>{1, 3, 9});
  other = next;
  other.mark_mask = 0xff;
  CHECK(marks(sipvsd::forwarding_during_change(running, other)) == std::vector<uint32_t>{1, 3, 9});
}
