// The configuration's "sync" object: off by default; when on, a node id, a
// key file and peers of listen's family, each refusal naming its field.
#include <doctest/doctest.h>

#include <utility>

#include "config_errors.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/sync_config.hpp"

using nlohmann::json;
using test::error_field;

namespace {

json with_sync(json sync) { return json{{"sync", std::move(sync)}}; }

json good() {
  return json{{"listen", "198.18.0.11:8848"}, {"peers", {"198.18.0.12:8848"}}, {"node_id", 1},
              {"sync_id", 7},                 {"key_file", "/etc/sipvsd/sync.key"}};
}

}  // namespace

TEST_CASE("sync: off unless listen is set; round trip") {
  CHECK_FALSE(sipvsd::parse_config(json::object()).sync.enabled());
  const sipvsd::DaemonConfig c = sipvsd::parse_config(with_sync(good()));
  REQUIRE(c.sync.enabled());
  CHECK(c.sync.node_id == 1);
  CHECK(c.sync.sync_id == 7);
  CHECK(c.sync.peers == std::vector<std::string>{"198.18.0.12:8848"});
  CHECK(c.sync.change_log == 65536);
  CHECK(c.sync.server_health == sipvsd::ServerHealthMode::shared);
  CHECK(sipvsd::to_json(c)["sync"]["server_health"] == "shared");
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);
}

TEST_CASE("sync: server health shared (the default) or local") {
  json s = good();
  s["server_health"] = "local";
  const sipvsd::DaemonConfig c = sipvsd::parse_config(with_sync(s));
  CHECK(c.sync.server_health == sipvsd::ServerHealthMode::local);
  CHECK(sipvsd::to_json(c)["sync"]["server_health"] == "local");
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);
  s["server_health"] = "shared";
  CHECK(sipvsd::parse_config(with_sync(s)).sync.server_health == sipvsd::ServerHealthMode::shared);
}

TEST_CASE("sync: each refusal names its field") {
  const auto changed = [](const char* key, json value) {
    json s = good();
    if (value.is_null())
      s.erase(key);
    else
      s[key] = std::move(value);
    return error_field(with_sync(s));
  };
  CHECK(changed("listen", "localhost:8848") == "sync.listen");
  CHECK(changed("listen", "198.18.0.11:0") == "sync.listen");
  CHECK(changed("listen", nullptr) == "sync.listen");  // peers without an address
  CHECK(changed("node_id", nullptr) == "sync.node_id");
  CHECK(changed("node_id", 0) == "sync.node_id");
  CHECK(changed("key_file", nullptr) == "sync.key_file");
  CHECK(changed("peers", nullptr) == "sync.peers");
  CHECK(changed("peers", json::array({"198.18.0.12"})) == "sync.peers[0]");
  CHECK(changed("peers", json::array({"198.18.0.12:8848", "[2001:2::12]:8848"})) == "sync.peers[1]");
  CHECK(changed("peers", json::array({"198.18.0.11:8848"})) == "sync.peers[0]");
  CHECK(changed("sync_id", 65536) == "sync.sync_id");
  CHECK(changed("change_log", 10) == "sync.change_log");
  CHECK(changed("server_health", "both") == "sync.server_health");
  CHECK(changed("server_health", true) == "sync.server_health");
  CHECK(changed("nodeid", 1) == "sync.nodeid");
  CHECK(error_field(with_sync(json::object())) == "");
}

TEST_CASE("sync: a multicast group instead of, or besides, the peers") {
  json s = good();
  s.erase("peers");
  s["multicast"] = {{"group", "239.255.81.81"}, {"interface", "eth1"}};
  const sipvsd::DaemonConfig c = sipvsd::parse_config(with_sync(s));
  CHECK(c.sync.multicast.group == "239.255.81.81");
  CHECK(c.sync.multicast.ttl == 1);
  CHECK(c.sync.peers.empty());
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);

  const auto changed = [&](const char* key, json value) {
    json m = s;
    m["multicast"][key] = std::move(value);
    return error_field(with_sync(m));
  };
  CHECK(changed("group", "198.18.0.20") == "sync.multicast.group");   // not multicast
  CHECK(changed("group", "ff02::81") == "sync.multicast.group");      // not listen's family
  CHECK(changed("interface", "") == "sync.multicast.interface");
  CHECK(changed("interface", "a-name-far-too-long") == "sync.multicast.interface");
  CHECK(changed("ttl", 0) == "sync.multicast.ttl");
  CHECK(changed("ttl", 256) == "sync.multicast.ttl");
  CHECK(changed("hops", 1) == "sync.multicast.hops");
  json v6 = s;
  v6["listen"] = "[2001:2::11]:8848";
  v6["multicast"]["group"] = "ff02::81";
  CHECK(error_field(with_sync(v6)) == "");
}
