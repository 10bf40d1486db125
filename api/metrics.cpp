#include "api/metrics.hpp"

#include "api/server_id.hpp"

namespace sipvsd::api {

namespace {

// Label values escape backslash, double quote and newline.
std::string escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

// The samples of one metric family stay together under its HELP and TYPE.
class Family {
 public:
  Family(std::string& out, std::string_view name, const char* type, std::string_view help)
      : out_(out), name_(name) {
    out_ += "# HELP sipvsd_" + name_ + " ";
    out_ += help;
    out_ += "\n# TYPE sipvsd_" + name_ + " " + type + "\n";
  }
  void add(const Labels& labels, uint64_t value) { line(labels, std::to_string(value)); }
  void add_signed(const Labels& labels, int64_t value) { line(labels, std::to_string(value)); }

 private:
  void line(const Labels& labels, const std::string& value) {
    out_ += "sipvsd_" + name_;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i)
        out_ += std::string(i ? "," : "") + std::string(labels[i].first) + "=\"" + escape(labels[i].second) + "\"";
      out_ += '}';
    }
    out_ += " " + value + "\n";
  }
  std::string& out_;
  std::string name_;
};

Labels service_label(const sipvs::ServiceStats& s) { return {{"service", s.name}}; }
Labels server_labels(const sipvs::ServiceStats& s, const sipvs::ServerStats& r) {
  return {{"service", s.name}, {"server", server_id(r.address, r.port)}};
}
Labels queue_label(const QueueStats& q) { return {{"queue", std::to_string(q.queue)}}; }

// The engine as a whole: packets, parse failures, the template table.
void render_engine(std::string& out, const sipvs::EngineStats& e) {
  Family(out, "packets_total", "counter", "Packets the engine decided on.").add({}, e.packets);
  Family(out, "no_service_packets_total", "counter", "Packets that matched no virtual service.").add({}, e.no_service);
  {
    Family f(out, "bad_packets_total", "counter", "Packets that could not be parsed, by reason.");
    for (std::size_t i = 1; i < e.bad_packets.size(); ++i)
      f.add({{"reason", std::string(sipvs::to_string(static_cast<sipvs::PacketStatus>(i)))}}, e.bad_packets[i]);
  }
  Family(out, "templates", "gauge", "Live persistence templates.").add({}, e.templates_live);
  Family(out, "templates_max", "gauge", "Capacity of the template table.").add({}, e.templates_max);
  Family(out, "templates_expired_total", "counter", "Templates removed by expiry.").add({}, e.templates_expired);
  Family(out, "table_full_total", "counter", "New sessions scheduled without a template: the table was full.")
      .add({}, e.table_full);
  Family(out, "rate_limited_total", "counter",
         "New sessions scheduled without a template: their source was over max_new_templates_per_source.")
      .add({}, e.rate_limited);
}

void render_services(std::string& out, const sipvs::EngineStats& e) {
  auto per_service = [&](const char* name, const char* help, auto value) {
    Family f(out, name, "counter", help);
    for (const auto& s : e.services) f.add(service_label(s), value(s));
  };
  per_service("service_packets_total", "Packets of the service.", [](const auto& s) { return s.counters.packets; });
  per_service("service_bytes_total", "Bytes of the service's packets.", [](const auto& s) { return s.counters.bytes; });
  per_service("service_templates_created_total", "Templates created for the service.",
              [](const auto& s) { return s.counters.templates_created; });
  per_service("service_no_server_packets_total", "Packets of the service with no available real server.",
              [](const auto& s) { return s.no_server; });
  per_service("service_table_full_total", "New sessions of the service not stored: the table was full.",
              [](const auto& s) { return s.table_full; });
  per_service("service_servers_full_total",
              "Packets of new calls of the service that found each of its real servers at its max_calls "
              "(counted in service_no_server_packets_total too).",
              [](const auto& s) { return s.servers_full; });
  per_service("service_outgoing_packets_total", "Messages the real servers sent from the service's VIP and port.",
              [](const auto& s) { return s.counters.outgoing_packets; });
  per_service("service_templates_learned_total",
              "Templates created or moved to a real server by a message of the call it sent or tagged.",
              [](const auto& s) { return s.counters.templates_learned; });
  per_service("service_unknown_sender_total",
              "Messages from the service's VIP and port whose sender is not a real server of it taking calls.",
              [](const auto& s) { return s.unknown_sender; });
  per_service("service_tagged_packets_total", "Messages that named their real server with a tag (sip-tag).",
              [](const auto& s) { return s.counters.tagged_packets; });
  per_service("service_unknown_tag_total", "Tags that named none of the service's real servers holding calls.",
              [](const auto& s) { return s.unknown_tag; });
  Family f(out, "service_pe_fallbacks_total", "counter",
           "Packets placed without pe data (plain persistence), by the persistence engine's reason.");
  for (const auto& s : e.services)
    for (std::size_t i = 1; i < s.fallbacks_by_reason.size(); ++i)
      f.add({{"service", s.name}, {"reason", std::string(sipvs::to_string(static_cast<sipvs::PeStatus>(i)))}},
            s.fallbacks_by_reason[i]);
}

void render_servers(std::string& out, const sipvs::EngineStats& e) {
  auto per_server = [&](const char* name, const char* type, const char* help, auto value) {
    Family f(out, name, type, help);
    for (const auto& s : e.services)
      for (const auto& r : s.servers) f.add_signed(server_labels(s, r), value(r));
  };
  per_server("server_packets_total", "counter", "Packets sent to the real server.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.packets); });
  per_server("server_bytes_total", "counter", "Bytes sent to the real server.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.bytes); });
  per_server("server_templates_created_total", "counter", "Templates created for the real server.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.templates_created); });
  per_server("server_pe_fallbacks_total", "counter", "Packets placed on the real server without pe data.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.pe_fallbacks); });
  per_server("server_outgoing_packets_total", "counter", "Messages the real server sent from the VIP and port.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.outgoing_packets); });
  per_server("server_templates_learned_total", "counter",
             "Templates created or moved to the real server by a message of the call it sent or tagged.",
             [](const auto& r) { return static_cast<int64_t>(r.counters.templates_learned); });
  per_server("server_tagged_packets_total", "counter", "Messages that named the real server with a tag (sip-tag).",
             [](const auto& r) { return static_cast<int64_t>(r.counters.tagged_packets); });
  per_server("server_templates", "gauge", "Live templates pointing at the real server.",
             [](const auto& r) { return r.live_templates; });
  per_server("server_weight", "gauge", "Configured weight (0: quiesced).",
             [](const auto& r) { return static_cast<int64_t>(r.weight); });
  per_server("server_up", "gauge", "1 if the real server takes new sessions, 0 if marked down (SIP OPTIONS health check).",
             [](const auto& r) { return static_cast<int64_t>(r.up ? 1 : 0); });
  per_server("server_max_calls", "gauge", "Live templates at which the real server gets no new calls (0: no limit).",
             [](const auto& r) { return static_cast<int64_t>(r.max_calls); });
  per_server("server_overloaded", "gauge",
             "1 while the real server is at its max_calls (until below min_calls): it gets no new calls.",
             [](const auto& r) { return static_cast<int64_t>(r.overloaded ? 1 : 0); });
  per_server("server_drained", "gauge", "1 when the real server has weight 0 and no live templates left.",
             [](const auto& r) { return static_cast<int64_t>(r.drained ? 1 : 0); });
}

// sipvsd's own queue counters, from kQueueCounters: consecutive rows with
// one metric name are one family, told apart by their label.
void render_queue_counters(std::string& out, const std::vector<QueueStats>& queues) {
  for (std::size_t i = 0; i < kQueueCounterCount;) {
    const QueueCounterInfo& head = kQueueCounters[i];
    std::size_t end = i + 1;
    while (end < kQueueCounterCount && kQueueCounters[end].metric == head.metric) ++end;
    if (!head.metric.empty()) {
      Family f(out, head.metric, "counter", head.help);
      for (const auto& q : queues)
        for (std::size_t r = i; r < end; ++r) {
          const QueueCounterInfo& row = kQueueCounters[r];
          Labels labels = queue_label(q);
          if (!row.label[0].empty()) labels.emplace_back(row.label[0], row.label[1]);
          f.add(labels, q.counters[row.counter]);
        }
    }
    i = end;
  }
}

// The kernel's own view of each queue (/proc/net/netfilter/nfnetlink_queue).
void render_kernel_queues(std::string& out, const std::vector<QueueStats>& queues) {
  {
    Family f(out, "queue_kernel_waiting", "gauge", "Packets the kernel holds for a verdict from sipvsd (queue_total).");
    for (const auto& q : queues)
      if (q.kernel) f.add(queue_label(q), q.kernel->queue_total);
  }
  {
    Family f(out, "queue_kernel_dropped_total", "counter",
             "Packets the kernel dropped: queue full (queue_dropped) or socket full (user_dropped); a fail-open "
             "queue accepts those unqueued instead and counts none.");
    for (const auto& q : queues) {
      if (!q.kernel) continue;
      f.add({{"queue", std::to_string(q.queue)}, {"reason", "queue_full"}}, q.kernel->queue_dropped);
      f.add({{"queue", std::to_string(q.queue)}, {"reason", "socket_full"}}, q.kernel->user_dropped);
    }
  }
  Family f(out, "queue_kernel_ids_total", "counter",
           "Packet ids the kernel gave out since the queue was bound (id_sequence, wraps at 2^32): packets "
           "queued to sipvsd, including those that then failed open because its socket was full.");
  for (const auto& q : queues)
    if (q.kernel) f.add(queue_label(q), q.kernel->id_sequence);
}

// Each peer, labelled by its address as configured (or as found on the group).
void render_sync_peers(std::string& out, const std::vector<SyncPeerStatus>& peers) {
  const auto per_peer = [&](const char* name, const char* type, const char* help, auto value) {
    Family f(out, name, type, help);
    for (const SyncPeerStatus& p : peers) f.add_signed({{"peer", p.address}}, value(p));
  };
  per_peer("sync_peer_last_seen_seconds", "gauge", "Seconds since a peer's last datagram (-1: never).",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.last_seen_seconds); });
  per_peer("sync_peer_lost_total", "counter", "A peer's datagrams missed, by their sequence numbers.",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.lost); });
  per_peer("sync_peer_config_differs", "gauge", "1 when a peer runs other services than this director.",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.config_differs ? 1 : 0); });
  per_peer("sync_peer_alive", "gauge", "1 while a peer is heard (its last datagram within 3 s), else 0.",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.state == PeerState::alive ? 1 : 0); });
  per_peer("sync_peer_synced", "gauge", "1 while a peer is alive and says it holds its own peers' tables.",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.state == PeerState::alive && p.synced ? 1 : 0); });
  per_peer("sync_peer_servers_down", "gauge",
           "Real servers a live peer's own health checks see down, as its last alive listed them.",
           [](const SyncPeerStatus& p) { return static_cast<int64_t>(p.servers_down.size()); });
}

// The eBPF fast path: what became of the packets to the services it serves.
void render_fast_path(std::string& out, const FastPathStats& f) {
  Family p(out, "fast_path_packets_total", "counter",
           "Packets to the fast path's services on tc ingress, by result: hit (placed in the kernel, never queued), "
           "or why NFQUEUE got them.");
  p.add({{"result", "hit"}}, f.hits);
  p.add({{"result", "miss"}}, f.misses);
  p.add({{"result", "stale"}}, f.stale);
  p.add({{"result", "no_call_id"}}, f.no_call_id);
  p.add({{"result", "fragment"}}, f.fragments);
  p.add({{"result", "unusual"}}, f.unusual);
  Family(out, "fast_path_remember_errors_total", "counter", "Templates the fast path's map refused (full).")
      .add({}, f.remember_errors);
}

// Template sync: this director's state, what it sent and took, per peer.
void render_sync(std::string& out, const SyncStatus& s) {
  Family(out, "sync_synced", "gauge", "1 once this director holds its peers' tables (template sync).")
      .add({}, s.synced ? 1 : 0);
  Family(out, "sync_datagrams_sent_total", "counter", "Sync datagrams sent.").add({}, s.datagrams_sent);
  Family(out, "sync_records_sent_total", "counter", "Template records sent.").add({}, s.records_sent);
  Family(out, "sync_bytes_sent_total", "counter", "UDP payload bytes of the sync datagrams sent.")
      .add({}, s.bytes_sent);
  Family(out, "sync_send_errors_total", "counter", "Sync datagrams the socket refused.").add({}, s.send_errors);
  Family(out, "sync_datagrams_received_total", "counter", "Sync datagrams taken.").add({}, s.datagrams_received);
  Family(out, "sync_bytes_received_total", "counter", "UDP payload bytes of the sync datagrams taken.")
      .add({}, s.bytes_received);
  Family(out, "sync_unknown_peer_total", "counter", "Authentic sync datagrams from an address not among the peers.")
      .add({}, s.unknown_peer);
  {
    Family f(out, "sync_dropped_total", "counter", "Sync datagrams refused, by reason.");
    for (std::size_t i = 0; i < s.dropped.size(); ++i)
      f.add({{"reason", std::string(sipvs::sync::to_string(static_cast<sipvs::sync::DropReason>(i)))}}, s.dropped[i]);
  }
  {
    Family f(out, "sync_records_received_total", "counter", "Template records received, by what became of them.");
    for (std::size_t i = 0; i < s.installed.size(); ++i)
      f.add({{"result", std::string(sipvs::to_string(static_cast<sipvs::Installed>(i)))}}, s.installed[i]);
  }
  Family(out, "sync_resyncs_requested_total", "counter", "Bulk resyncs this director asked for.")
      .add({}, s.resyncs_requested);
  Family(out, "sync_resyncs_served_total", "counter", "Bulk resyncs this director sent.").add({}, s.resyncs_served);
  Family(out, "sync_server_health_shared", "gauge",
         "1 when sync.server_health is shared: a server is down here when any live director's health checks see it down.")
      .add({}, s.server_health_shared ? 1 : 0);
  render_sync_peers(out, s.peers);
}

}  // namespace

std::string render_metrics(const MetricsInput& in) {
  std::string out;
  render_engine(out, in.engine);
  render_services(out, in.engine);
  render_servers(out, in.engine);
  render_queue_counters(out, in.queues);
  render_kernel_queues(out, in.queues);
  Family(out, "debug_level", "gauge", "Current debug level (0-10).").add({}, in.debug_level);
  Family(out, "config_changes_total", "counter", "Configuration changes applied since start (API and reload).")
      .add({}, in.config_changes);
  if (in.sync) render_sync(out, *in.sync);
  if (in.fast_path) render_fast_path(out, *in.fast_path);
  return out;
}

}  // namespace sipvsd::api
