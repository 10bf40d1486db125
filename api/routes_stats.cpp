// /v1/stats (JSON counters and rates per service and server), /metrics
// (Prometheus) and /healthz.
#include "daemon/config/service_json.hpp"
#include "daemon/health/health_check.hpp"
#include "daemon/log.hpp"
#include "api/metrics.hpp"
#include "api/routes.hpp"
#include "api/server_id.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;

json rate_json(const Rate& r) {
  return {{"packets_per_second", r.packets_per_second}, {"bytes_per_second", r.bytes_per_second}};
}

json counters_json(const sipvs::Counters& c) {
  return {{"packets", c.packets},
          {"bytes", c.bytes},
          {"templates_created", c.templates_created},
          {"pe_fallbacks", c.pe_fallbacks},
          {"outgoing_packets", c.outgoing_packets},
          {"templates_learned", c.templates_learned},
          {"tagged_packets", c.tagged_packets}};
}

// A checked server's probes; with a shared health agreement, the peers that see it down too.
json health_json(const HealthStatus& h) {
  json j{{"state", h.up ? "up" : "down"},
         {"last_result", h.last_result},
         {"last_probe", h.last_probe},
         {"last_rtt_ms", h.last_rtt_ms},
         {"last_change", h.last_change}};
  if (h.seen_down_by) j["seen_down_by"] = *h.seen_down_by;
  return j;
}

json stats_json(const sipvs::EngineStats& e, const std::vector<QueueStats>& queues,
                const std::vector<HealthStatus>& health, const Rates& rates) {
  json bad = json::object();
  for (std::size_t i = 1; i < e.bad_packets.size(); ++i)
    bad[std::string(sipvs::to_string(static_cast<sipvs::PacketStatus>(i)))] = e.bad_packets[i];
  json services = json::array();
  for (const auto& s : e.services) {
    json fallbacks = json::object();
    for (std::size_t i = 1; i < s.fallbacks_by_reason.size(); ++i)
      fallbacks[std::string(sipvs::to_string(static_cast<sipvs::PeStatus>(i)))] = s.fallbacks_by_reason[i];
    json servers = json::array();
    for (const auto& r : s.servers) {
      json j = counters_json(r.counters);
      j["server"] = server_id(r.address, r.port);
      j["mark"] = r.mark;
      j["weight"] = r.weight;
      j["up"] = r.up;
      j["live_templates"] = r.live_templates;
      j["overloaded"] = r.overloaded;
      j["drained"] = r.drained;
      j["rates"] = rate_json(rates.server(s.name, r));
      if (const HealthStatus* h = find_status(health, s.name, r.address, r.port))  // only checked servers
        j["health"] = health_json(*h);
      servers.push_back(std::move(j));
    }
    json j = counters_json(s.counters);
    j["name"] = s.name;
    j["pe_fallbacks_by_reason"] = std::move(fallbacks);
    j["drops"] = {{"no_server", s.no_server},
                  {"servers_full", s.servers_full},
                  {"table_full", s.table_full},
                  {"rate_limited", s.rate_limited}};
    j["unknown_sender"] = s.unknown_sender;
    j["unknown_tag"] = s.unknown_tag;
    j["rates"] = rate_json(rates.service(s.name));
    j["servers"] = std::move(servers);
    services.push_back(std::move(j));
  }
  json qs = json::array();
  for (const auto& q : queues) {
    json j{{"queue", q.queue}};
    for (const QueueCounterInfo& row : kQueueCounters) j[std::string(row.name)] = q.counters[row.counter];
    j["kernel"] = q.kernel ? json{{"queue_total", q.kernel->queue_total},
                                  {"queue_dropped", q.kernel->queue_dropped},
                                  {"user_dropped", q.kernel->user_dropped},
                                  {"id_sequence", q.kernel->id_sequence}}
                           : json(nullptr);
    qs.push_back(std::move(j));
  }
  return {{"packets", e.packets},
          {"drops", {{"no_service", e.no_service}, {"bad_packet", std::move(bad)}, {"table_full", e.table_full},
                     {"rate_limited", e.rate_limited}}},
          {"templates", {{"live", e.templates_live}, {"max", e.templates_max}, {"expired", e.templates_expired}}},
          {"rate_interval_seconds", Rates::kInterval.count()},
          {"services", std::move(services)},
          {"queues", std::move(qs)}};
}

// A server as a peer names it: its service's VIP (or fwmark) and its own address.
json server_identity_json(const sipvs::sync::ServerIdentity& id) {
  json j = id.fwmark != 0 ? json{{"fwmark", id.fwmark}}
                          : json{{"protocol", protocol_name(id.protocol)}, {"vip", id.vip.to_string()}, {"port", id.vport}};
  j["server"] = server_id(id.server, id.port);
  return j;
}

json peer_json(const SyncPeerStatus& p) {
  json down = json::array();
  for (const sipvs::sync::ServerIdentity& id : p.servers_down) down.push_back(server_identity_json(id));
  return {{"address", p.address},
          {"node_id", p.node},
          {"state", std::string(to_string(p.state))},
          {"last_seen_seconds", p.last_seen_seconds},
          {"epoch", p.epoch},
          {"highest_sequence", p.highest_seq},
          {"lost", p.lost},
          {"table_received", p.table_received},
          {"synced", p.synced},
          {"templates", p.templates},
          {"config_differs", p.config_differs},
          {"servers_down", std::move(down)},
          {"servers_down_incomplete", p.servers_down_incomplete}};
}

json sync_json(const std::optional<SyncStatus>& status) {
  if (!status) return {{"enabled", false}};
  const SyncStatus& s = *status;
  json dropped = json::object();
  for (std::size_t i = 0; i < s.dropped.size(); ++i)
    dropped[std::string(sipvs::sync::to_string(static_cast<sipvs::sync::DropReason>(i)))] = s.dropped[i];
  json installed = json::object();
  for (std::size_t i = 0; i < s.installed.size(); ++i)
    installed[std::string(sipvs::to_string(static_cast<sipvs::Installed>(i)))] = s.installed[i];
  json peers = json::array();
  for (const SyncPeerStatus& p : s.peers) peers.push_back(peer_json(p));
  return {{"enabled", true},
          {"synced", s.synced},
          {"node_id", s.node},
          {"server_health", s.server_health_shared ? "shared" : "local"},
          {"sent",
           {{"datagrams", s.datagrams_sent},
            {"records", s.records_sent},
            {"bytes", s.bytes_sent},
            {"errors", s.send_errors}}},
          {"received",
           {{"datagrams", s.datagrams_received},
            {"records", s.records_received},
            {"bytes", s.bytes_received},
            {"unknown_peer", s.unknown_peer}}},
          {"dropped", std::move(dropped)},
          {"installed", std::move(installed)},
          {"resyncs", {{"requested", s.resyncs_requested}, {"served", s.resyncs_served}}},
          {"peers", std::move(peers)}};
}

// The fast path's counters (docs/fast-path.md); null when it is off.
json fast_path_json(const std::optional<FastPathStats>& f) {
  if (!f) return nullptr;
  return {{"hits", f->hits},           {"misses", f->misses},       {"stale", f->stale},
          {"no_call_id", f->no_call_id}, {"fragments", f->fragments}, {"unusual", f->unusual},
          {"remember_errors", f->remember_errors}};
}

}  // namespace

void add_stats_routes(Router& router, ControlPlane& control, const Rates& rates, DaemonReadouts readouts) {
  ControlPlane* cp = &control;
  const Rates* r = &rates;
  auto queues = [f = readouts.queue_stats] { return f ? f() : std::vector<QueueStats>{}; };
  auto health = [f = readouts.health] { return f ? f() : std::vector<HealthStatus>{}; };

  auto sync = [f = readouts.sync] { return f ? f() : std::nullopt; };
  auto fast_path = [f = readouts.fast_path] { return f ? f() : std::nullopt; };

  // Template sync's counters too, as /v1/sync has them: one request shows a
  // director's whole state.
  router.add(http::verb::get, "/v1/stats", [cp, r, queues, health, sync, fast_path](const RequestContext&) {
    json body = stats_json(cp->engine().stats(), queues(), health(), *r);
    body["sync"] = sync_json(sync());
    body["fast_path"] = fast_path_json(fast_path());
    return json_response(http::status::ok, body);
  });

  router.add(http::verb::get, "/metrics", [cp, queues, sync, fast_path](const RequestContext&) {
    const sipvs::EngineStats stats = cp->engine().stats();
    const std::vector<QueueStats> qs = queues();
    const std::optional<SyncStatus> s = sync();
    const std::optional<FastPathStats> f = fast_path();
    return text_response(http::status::ok,
                         render_metrics(MetricsInput{stats, qs, log::debug_level(), cp->generation(), s ? &*s : nullptr,
                                                     f ? &*f : nullptr}),
                         kMetricsContentType);
  });

  router.add(http::verb::get, "/v1/sync", [sync](const RequestContext&) {
    return json_response(http::status::ok, sync_json(sync()));
  });

  // What keepalived's track script asks: with template sync on, a director
  // is healthy only once it holds its peers' tables (503 "syncing" before),
  // so that the VIP never moves to one that would break the calls in progress.
  router.add(http::verb::get, "/healthz", [cp, sync](const RequestContext&) {
    const std::optional<SyncStatus> s = sync();
    json body{{"status", "ok"}, {"services", cp->service_count()}};
    if (!s) return json_response(http::status::ok, body);
    body["synced"] = s->synced;
    if (s->synced) return json_response(http::status::ok, body);
    body["status"] = "syncing";
    return json_response(http::status::service_unavailable, body);
  });
}

}  // namespace sipvsd::api
