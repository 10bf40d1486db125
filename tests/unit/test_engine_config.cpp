#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

EngineConfig valid() {
  EngineConfig c;
  ServiceConfig s;
  s.name = "sip";
  s.vip = *IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = "mh";
  s.persistence_timeout = 300;
  s.pe = "sip";
  RealServerConfig a, b;
  a.address = *IpAddress::parse("198.18.1.1");
  a.mark = 1;
  b.address = *IpAddress::parse("198.18.1.2");
  b.mark = 2;
  s.servers = {a, b};
  c.services.push_back(s);
  return c;
}

std::string error_of(const EngineConfig& c) {
  auto e = validate(c);
  return e ? e->message() : "";
}

}  // namespace

TEST_CASE("a valid configuration passes") { CHECK(error_of(valid()) == ""); }

TEST_CASE("each invalid field is named with the reason") {
  EngineConfig c = valid();
  c.services[0].servers[1].mark = 1;
  CHECK(error_of(c) == "services[0].servers[1].mark: mark 1 is already used by services[0].servers[0]");

  c = valid();
  c.services[0].servers[0].weight = 65536;
  CHECK(error_of(c) == "services[0].servers[0].weight: must be between 0 and 65535");

  c = valid();
  c.services[0].scheduler = "fastest";
  CHECK(error_of(c).starts_with("services[0].scheduler: unknown scheduler 'fastest' (known: rr,"));

  c = valid();
  c.services[0].pe = "h323";
  CHECK(error_of(c).starts_with("services[0].pe: unknown persistence engine 'h323'"));

  c = valid();
  c.services[0].persistence_timeout = 0;
  CHECK(error_of(c).starts_with("services[0].persistence_timeout: a persistence engine needs"));

  c = valid();
  c.services.push_back(c.services[0]);
  c.services[1].name = "again";
  for (auto& r : c.services[1].servers) r.mark += 10;
  CHECK(error_of(c) == "services[1]: udp 198.18.2.100:5060 is already services[0]");

  c = valid();
  c.services.push_back(c.services[0]);
  CHECK(error_of(c) == "services[1].name: 'sip' is already used by services[0]");

  c = valid();
  c.services[0].servers[1] = c.services[0].servers[0];
  c.services[0].servers[1].mark = 5;
  CHECK(error_of(c) ==
        "services[0].servers[1]: 198.18.1.1 port 5060 is already servers[0] of this service (port 0 is the service's port)");

  c = valid();
  c.services[0].servers[0].address = *IpAddress::parse("2001:2::1");
  CHECK(error_of(c).starts_with("services[0].servers[0].address: not of the vip's address family"));

  c = valid();
  c.services[0].netmask = 33;
  CHECK(error_of(c) == "services[0].netmask: prefix 33 is longer than 32");

  c = valid();
  c.services[0].servers[0].mark = 0;
  CHECK(error_of(c).starts_with("services[0].servers[0].mark: must be nonzero"));

  c = valid();
  c.services[0].name = "has space";
  CHECK(error_of(c).starts_with("services[0].name: 'has space' is not a name"));

  c = valid();
  c.services[0].fwmark = 3;
  CHECK(error_of(c) == "services[0]: a service has either a fwmark or a vip and port, not both");
}

TEST_CASE("one server, one identity: port 0 is the service's port") {
  // ipvsadm -a -t vip:5060 -r 198.18.1.1 makes 198.18.1.1:5060: one server,
  // however it is written, else the second could never be named by the API.
  EngineConfig c = valid();
  c.services[0].servers[1].address = c.services[0].servers[0].address;
  c.services[0].servers[1].port = 5060;
  const auto e = validate(c);
  REQUIRE(e);
  CHECK(e->field == "services[0].servers[1]");
  CHECK(e->reason == "198.18.1.1 port 5060 is already servers[0] of this service (port 0 is the service's port)");

  c.services[0].servers[0].port = 5060;
  c.services[0].servers[1].port = 0;
  CHECK(error_of(c) ==
        "services[0].servers[1]: 198.18.1.1 port 5060 is already servers[0] of this service (port 0 is the service's port)");

  c.services[0].servers[0].port = 5060;
  c.services[0].servers[1].port = 5060;
  CHECK(error_of(c) == "services[0].servers[1]: 198.18.1.1 port 5060 is already servers[0] of this service");

  // Another port is another server.
  c.services[0].servers[1].port = 5061;
  CHECK(error_of(c) == "");
  c.services[0].servers[0].port = 0;
  CHECK(error_of(c) == "");

  // A fwmark service has no port: 0 keeps the packet's, another port is another server.
  c.services[0].vip = IpAddress{};
  c.services[0].port = 0;
  c.services[0].fwmark = 7;
  c.services[0].servers[1].port = 5060;
  CHECK(error_of(c) == "");
  c.services[0].servers[1].port = 0;
  CHECK(error_of(c) == "services[0].servers[1]: 198.18.1.1 port 0 is already servers[0] of this service");
}

TEST_CASE("an edited object's clashes are told from its side and by name") {
  EngineConfig c = valid();
  c.services.push_back(c.services[0]);
  ServiceConfig& b = c.services[1];
  b.name = "b";
  b.port = 5070;
  for (auto& r : b.servers) r.mark += 10;
  REQUIRE(error_of(c) == "");
  CHECK_FALSE(edited_conflicts(c, {1, std::nullopt}));
  CHECK_FALSE(edited_conflicts(c, {1, 0}));

  auto told = [&](const EditedObject& edited) {
    const auto e = edited_conflicts(c, edited);
    REQUIRE(e);
    CHECK(e->kind == ConfigError::Kind::conflict);
    return e->message();
  };
  b.name = "sip";
  CHECK(told({1, std::nullopt}) == "services[1].name: service 'sip' already exists");
  b.name = "b";
  b.port = 5060;
  CHECK(told({1, std::nullopt}) == "services[1].vip: 198.18.2.100 port 5060 is already service 'sip'");
  b.port = 5070;
  b.servers[1].mark = 1;
  CHECK(told({1, std::nullopt}) == "services[1].servers[1].mark: mark 0x00000001 is already used by server 198.18.1.1 of service 'sip'");
  CHECK(told({1, 1}) == "services[1].servers[1].mark: mark 0x00000001 is already used by server 198.18.1.1 of service 'sip'");
  // validate() tells the same clash from the later object's side, by index.
  CHECK(error_of(c) == "services[1].servers[1].mark: mark 1 is already used by services[0].servers[0]");
  b.servers[1].mark = 12;

  c.services[0].servers[1].address = c.services[0].servers[0].address;
  c.services[0].servers[1].port = 5060;
  CHECK(told({0, 1}) == "services[0].servers[1].address: 198.18.1.1:5060 is already a server of service 'sip' (as 198.18.1.1)");
  c.services[0].servers[1].port = 0;
  CHECK(told({0, 1}) == "services[0].servers[1].address: 198.18.1.1 is already a server of service 'sip'");
  // Clashes within the edited service are validate()'s.
  CHECK_FALSE(edited_conflicts(c, {0, std::nullopt}));

  c = valid();
  c.services[0].vip = IpAddress{};
  c.services[0].port = 0;
  c.services[0].fwmark = 7;
  c.services.push_back(c.services[0]);
  c.services[1].name = "b";
  for (auto& r : c.services[1].servers) r.mark += 10;
  CHECK(told({1, std::nullopt}) == "services[1].fwmark: fwmark 7 is already service 'sip'");
}

TEST_CASE("apply() rejects an invalid configuration and changes nothing") {
  Engine engine(valid());
  EngineConfig bad = valid();
  bad.services[0].servers[0].weight = 70000;
  auto e = engine.apply(bad);
  REQUIRE(e);
  CHECK(e->field == "services[0].servers[0].weight");
  CHECK(engine.config().services[0].servers[0].weight == 1);
  CHECK_THROWS_AS(Engine{bad}, std::invalid_argument);
}

TEST_CASE("netmasks: dotted IPv4 masks and prefix lengths") {
  using F = IpAddress::Family;
  CHECK(parse_netmask("0.0.0.0", F::v4) == 0u);
  CHECK(parse_netmask("255.255.255.0", F::v4) == 24u);
  CHECK(parse_netmask("255.255.255.255", F::v4) == 32u);
  CHECK(parse_netmask("24", F::v4) == 24u);
  CHECK(parse_netmask("64", F::v6) == 64u);
  CHECK_FALSE(parse_netmask("255.0.255.0", F::v4));
  CHECK_FALSE(parse_netmask("33", F::v4));
  CHECK_FALSE(parse_netmask("255.255.0.0", F::v6));
  CHECK(IpAddress::parse("198.18.7.9")->masked(24).to_string() == "198.18.7.0");
  CHECK(IpAddress::parse("198.18.7.9")->masked(20).to_string() == "198.18.0.0");
  CHECK(IpAddress::parse("2001:2::1:2")->masked(64).to_string() == "2001:2::");
}

namespace {

// `count` servers with distinct addresses and marks starting at `first`.
std::vector<RealServerConfig> many_servers(std::size_t count, uint32_t first = 1) {
  std::vector<RealServerConfig> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    const uint32_t n = first + static_cast<uint32_t>(i);
    out[i].address = *IpAddress::parse("198.18." + std::to_string(n >> 8 & 0xff) + "." + std::to_string(n & 0xff));
    out[i].mark = n;
  }
  return out;
}

}  // namespace

TEST_CASE("the engine's service and real server limits are validation errors") {
  EngineConfig c = valid();
  c.services[0].servers = many_servers(kMaxRealServers);
  CHECK(error_of(c) == "");
  c.services[0].servers = many_servers(kMaxRealServers + 1);
  CHECK(error_of(c) == "services: 4097 real servers over all services, the engine holds at most 4096");

  c = valid();
  c.services.resize(kMaxServices + 1, c.services[0]);
  for (std::size_t i = 1; i < c.services.size(); ++i) {
    c.services[i].name = "s" + std::to_string(i);
    c.services[i].port = static_cast<uint16_t>(i);
    c.services[i].servers.clear();
  }
  CHECK(error_of(c) == "services: 1025 services, the engine holds at most 1024");
  c.services.pop_back();
  CHECK(error_of(c) == "");
  CHECK_NOTHROW(Engine{c});
}

TEST_CASE("apply(): the servers a change replaces still hold their slots while it is published") {
  EngineConfig full = valid();
  full.services[0].servers = many_servers(kMaxRealServers);
  Engine engine(full);
  EngineConfig other = full;
  other.services[0].servers = many_servers(kMaxRealServers, 10000);  // no server in common
  REQUIRE(error_of(other) == "");
  const auto e = engine.apply(other);
  REQUIRE(e);
  CHECK(e->message() ==
        "services: with the running ones it replaces, this change needs 8192 real servers of the engine's 4096: "
        "remove in one change, add in the next");
  CHECK(engine.config().services[0].servers[0].mark == 1);  // unchanged

  EngineConfig none = full;
  none.services[0].servers.clear();
  CHECK_FALSE(engine.apply(none));
  CHECK_FALSE(engine.apply(other));
  CHECK(engine.config().services[0].servers[0].mark == 10000);
}

TEST_CASE("a new service listed before a running one gets a slot of its own") {
  EngineConfig one = valid();
  Engine engine(one);
  EngineConfig two = one;
  two.services.insert(two.services.begin(), one.services[0]);
  two.services[0].name = "new";
  two.services[0].port = 5070;
  for (auto& r : two.services[0].servers) r.mark += 10;
  REQUIRE_FALSE(engine.apply(two));
  auto w = engine.make_decider();
  const std::vector<uint8_t> packet =
      test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite("call@198.18.0.1"));
  REQUIRE(w.decide(packet, 0, 1000).outcome == Outcome::placed);
  const EngineStats s = engine.stats();
  REQUIRE(s.services.size() == 2);
  CHECK(s.services[0].name == "new");
  CHECK(s.services[0].counters.packets == 0);
  CHECK(s.services[1].counters.packets == 1);
}

TEST_CASE("the per-source prefixes: /32 and /64 by default, within the family") {
  EngineConfig c = valid();
  CHECK(c.per_source_prefix_v4 == 32);
  CHECK(c.per_source_prefix_v6 == 64);
  c.per_source_prefix_v4 = 0;
  c.per_source_prefix_v6 = 128;
  CHECK(error_of(c) == "");
  c.per_source_prefix_v4 = 33;
  CHECK(error_of(c) == "per_source_prefix_v4: must be 0-32");
  c = valid();
  c.per_source_prefix_v6 = 129;
  CHECK(error_of(c) == "per_source_prefix_v6: must be 0-128");
}

TEST_CASE("call limits: max_calls up to 1e9; min_calls only with max_calls, and not above it") {
  const auto with = [](uint32_t max_calls, uint32_t min_calls) {
    EngineConfig c = valid();
    c.services[0].servers[1].max_calls = max_calls;
    c.services[0].servers[1].min_calls = min_calls;
    return error_of(c);
  };
  CHECK(with(0, 0) == "");
  CHECK(with(1, 0) == "");
  CHECK(with(100, 75) == "");
  CHECK(with(100, 100) == "");  // no gap: free again as soon as below the limit
  CHECK(with(kMaxCalls, 1) == "");
  CHECK(with(kMaxCalls + 1, 0) == "services[0].servers[1].max_calls: must be between 0 and 1000000000");
  CHECK(with(0, 5) == "services[0].servers[1].min_calls: needs max_calls: it is the lower threshold of that limit");
  CHECK(with(10, 11) == "services[0].servers[1].min_calls: must not be above max_calls (10)");
}
