// What the stats routes read from the running daemon (DaemonReadouts): the
// queue counters, whose one table (daemon/datapath/queue_counters.hpp) feeds /v1/stats
// and /metrics, and the health checker's statuses.
#include <doctest/doctest.h>

#include <string>

#include "fixtures.hpp"
#include "daemon/datapath/queue_counters.hpp"
#include "api/routes.hpp"

using namespace sipvsd;
using namespace sipvsd::api;
using nlohmann::json;

namespace {

// Queue 3 with counter i at 100 + i, so that each value names its row.
std::vector<QueueStats> one_queue() {
  QueueStats q;
  q.queue = 3;
  for (std::size_t i = 0; i < kQueueCounterCount; ++i) q.counters.values[i] = 100 + i;
  return {q};
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("every queue counter is in /v1/stats and, when exported, in /metrics under its family") {
  const DaemonConfig start = test::sip_config();
  sipvs::Engine engine(start.engine);
  ControlPlane control(engine, start);
  Rates rates;
  const Router router = make_router(control, rates, {one_queue, {}, {}, {}}, {});

  const Response stats = router.handle(Request{http::verb::get, "/v1/stats", 11});
  REQUIRE(stats.result_int() == 200);
  const json q = json::parse(stats.body()).at("queues").at(0);
  CHECK(q.at("queue") == 3);
  CHECK(q.at("kernel").is_null());
  for (std::size_t i = 0; i < kQueueCounterCount; ++i) CHECK(q.at(std::string(kQueueCounters[i].name)) == 100 + i);

  const std::string metrics = router.handle(Request{http::verb::get, "/metrics", 11}).body();
  for (std::size_t i = 0; i < kQueueCounterCount; ++i) {
    const QueueCounterInfo& row = kQueueCounters[i];
    CAPTURE(row.name);
    if (row.metric.empty()) continue;
    std::string sample = "sipvsd_" + std::string(row.metric) + "{queue=\"3\"";
    if (!row.label[0].empty()) sample += "," + std::string(row.label[0]) + "=\"" + std::string(row.label[1]) + "\"";
    sample += "} " + std::to_string(100 + i) + "\n";
    CHECK(occurrences(metrics, sample) == 1);
    CHECK(occurrences(metrics, "# HELP sipvsd_" + std::string(row.metric) + " ") == 1);
  }
  // The families and labels operators' dashboards already use.
  CHECK(occurrences(metrics, "sipvsd_queue_unplaced_total{queue=\"3\",verdict=\"drop\"} 106\n") == 1);
  CHECK(occurrences(metrics, "sipvsd_queue_errors_total{queue=\"3\",kind=\"decide\"} 113\n") == 1);
  CHECK(occurrences(metrics, "# TYPE sipvsd_queue_errors_total counter\n") == 1);
}

TEST_CASE("/v1/stats shows the health of the servers the checker reports, and only theirs") {
  const DaemonConfig start = test::sip_config();
  sipvs::Engine engine(start.engine);
  ControlPlane control(engine, start);
  Rates rates;
  HealthStatus checked;
  checked.service = "sip";
  checked.address = *sipvs::IpAddress::parse("198.18.1.2");
  checked.port = 5060;
  checked.up = false;
  checked.last_result = "timeout";
  checked.last_change = 1234;
  const Router router = make_router(control, rates, {{}, [&checked] { return std::vector{checked}; }, {}, {}}, {});
  const auto servers = [&] {
    return json::parse(router.handle(Request{http::verb::get, "/v1/stats", 11}).body()).at("services").at(0).at(
        "servers");
  };

  REQUIRE(servers().size() == 2);
  CHECK_FALSE(servers().at(0).contains("health"));  // 198.18.1.1 is not checked
  const json health = servers().at(1).at("health");
  CHECK(health.at("state") == "down");
  CHECK(health.at("last_result") == "timeout");
  CHECK(health.at("last_change") == 1234);
  CHECK_FALSE(health.contains("seen_down_by"));  // a local agreement

  // Shared: its own probes see it up, directors 8 and 9 down.
  checked.up = true;
  checked.seen_down_by = std::vector<uint64_t>{8, 9};
  CHECK(servers().at(1).at("health").at("state") == "up");
  CHECK(servers().at(1).at("health").at("seen_down_by") == json::array({8, 9}));
}

TEST_CASE("template sync: /v1/sync, /metrics, and /healthz holds back until synced") {
  const DaemonConfig start = test::sip_config();
  sipvs::Engine engine(start.engine);
  ControlPlane control(engine, start);
  Rates rates;
  SyncStatus status;
  status.node = 7;
  status.bytes_sent = 1452;
  status.dropped[static_cast<std::size_t>(sipvs::sync::DropReason::bad_mac)] = 3;
  status.installed[static_cast<std::size_t>(sipvs::Installed::kept_local)] = 4;
  SyncPeerStatus peer;
  peer.address = "198.18.0.12:8848";
  peer.node = 8;
  peer.config_differs = true;
  peer.state = PeerState::alive;
  peer.synced = true;
  sipvs::sync::ServerIdentity by_vip{17, *sipvs::IpAddress::parse("198.18.2.100"), 5060, 0,
                                     *sipvs::IpAddress::parse("198.18.1.2"), 5060};
  sipvs::sync::ServerIdentity by_mark{0, {}, 0, 7, *sipvs::IpAddress::parse("2001:2::2"), 0};
  peer.servers_down = {by_vip, by_mark};
  status.peers.push_back(peer);
  SyncPeerStatus unheard;
  unheard.address = "198.18.0.13:8848";
  status.peers.push_back(unheard);
  status.server_health_shared = true;
  bool on = true;
  const Router router = make_router(control, rates,
                                    {{}, {}, [&]() -> std::optional<SyncStatus> {
                                       if (!on) return std::nullopt;
                                       return status;
                                     },
                                     {}},
                                    {});
  const auto get = [&](const char* path) { return router.handle(Request{http::verb::get, path, 11}); };

  Response r = get("/healthz");
  CHECK(r.result_int() == 503);
  CHECK(json::parse(r.body()) == json{{"status", "syncing"}, {"services", 1}, {"synced", false}});
  status.synced = true;
  r = get("/healthz");
  CHECK(r.result_int() == 200);
  CHECK(json::parse(r.body())["synced"] == true);

  const json s = json::parse(get("/v1/sync").body());
  CHECK(s["enabled"] == true);
  CHECK(s["node_id"] == 7);
  CHECK(s["sent"]["bytes"] == 1452);
  CHECK(s["dropped"]["bad_mac"] == 3);
  CHECK(s["installed"]["kept_local"] == 4);
  CHECK(s["peers"][0]["address"] == "198.18.0.12:8848");
  CHECK(s["peers"][0]["config_differs"] == true);
  CHECK(s["server_health"] == "shared");
  CHECK(s["peers"][0]["state"] == "alive");
  CHECK(s["peers"][0]["servers_down"] ==
        json::parse(R"([{"protocol": "udp", "vip": "198.18.2.100", "port": 5060, "server": "198.18.1.2:5060"},
                        {"fwmark": 7, "server": "2001:2::2"}])"));
  CHECK(s["peers"][0]["servers_down_incomplete"] == false);
  CHECK(s["peers"][1]["state"] == "unheard");
  CHECK(json::parse(get("/v1/stats").body())["sync"] == s);  // the whole state in one request

  const std::string metrics = get("/metrics").body();
  CHECK(metrics.find("sipvsd_sync_synced 1\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_bytes_sent_total 1452\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_dropped_total{reason=\"bad_mac\"} 3\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_config_differs{peer=\"198.18.0.12:8848\"} 1\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_server_health_shared 1\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_alive{peer=\"198.18.0.12:8848\"} 1\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_alive{peer=\"198.18.0.13:8848\"} 0\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_synced{peer=\"198.18.0.12:8848\"} 1\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_synced{peer=\"198.18.0.13:8848\"} 0\n") != std::string::npos);
  CHECK(metrics.find("sipvsd_sync_peer_servers_down{peer=\"198.18.0.12:8848\"} 2\n") != std::string::npos);
  CHECK(metrics.find("# TYPE sipvsd_sync_peer_servers_down gauge\n") != std::string::npos);

  on = false;
  CHECK(json::parse(get("/v1/sync").body()) == json{{"enabled", false}});
  CHECK(json::parse(get("/v1/stats").body())["sync"] == json{{"enabled", false}});
  r = get("/healthz");
  CHECK(r.result_int() == 200);
  CHECK_FALSE(json::parse(r.body()).contains("synced"));
  CHECK(get("/metrics").body().find("sipvsd_sync_") == std::string::npos);
}

TEST_CASE("the fast path's counters are in /v1/stats and /metrics while it is on, null and absent when off") {
  const DaemonConfig start = test::sip_config();
  sipvs::Engine engine(start.engine);
  ControlPlane control(engine, start);
  Rates rates;
  FastPathStats f;
  f.hits = 41;
  f.misses = 7;
  f.stale = 2;
  f.no_call_id = 3;
  f.fragments = 4;
  f.unusual = 5;
  f.remember_errors = 6;
  bool on = true;
  const Router router = make_router(control, rates,
                                    {{}, {}, {}, [&]() -> std::optional<FastPathStats> {
                                       if (!on) return std::nullopt;
                                       return f;
                                     }},
                                    {});
  const auto get = [&](const char* path) { return router.handle(Request{http::verb::get, path, 11}).body(); };
  CHECK(json::parse(get("/v1/stats"))["fast_path"] == json{{"hits", 41},      {"misses", 7},   {"stale", 2},
                                                           {"no_call_id", 3}, {"fragments", 4}, {"unusual", 5},
                                                           {"remember_errors", 6}});
  const std::string m = get("/metrics");
  CHECK(m.find("sipvsd_fast_path_packets_total{result=\"hit\"} 41\n") != std::string::npos);
  CHECK(m.find("sipvsd_fast_path_packets_total{result=\"fragment\"} 4\n") != std::string::npos);
  CHECK(m.find("sipvsd_fast_path_remember_errors_total 6\n") != std::string::npos);
  on = false;
  CHECK(json::parse(get("/v1/stats"))["fast_path"].is_null());
  CHECK(get("/metrics").find("fast_path") == std::string::npos);
}
