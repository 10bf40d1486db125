// Engine::stats(): the workers' counter slots added up, per service and server.
#include "engine/change_log.hpp"
#include "engine/engine.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/snapshot.hpp"

namespace sipvs {

namespace {

// A server's counters over the workers' slots.
void add_up(Counters& out, const std::array<ServerSlotCounters, kMaxDeciders>& slots) {
  for (const ServerSlotCounters& c : slots) {
    out.packets += read(c.packets);
    out.bytes += read(c.bytes);
    out.templates_created += read(c.created);
    out.pe_fallbacks += read(c.fallbacks);
    out.outgoing_packets += read(c.outgoing);
    out.templates_learned += read(c.learned);
    out.tagged_packets += read(c.tagged);
  }
}

}  // namespace

EngineStats Engine::stats() const {
  auto snap = current();
  const Runtime& rt = *runtime_;
  EngineStats out;
  for (const GlobalSlotCounters& g : rt.global) {
    out.packets += read(g.packets);
    out.no_service += read(g.no_service);
    out.table_full += read(g.table_full);
    out.rate_limited += read(g.rate_limited);
    for (std::size_t i = 0; i < g.bad_packets.size(); ++i) out.bad_packets[i] += read(g.bad_packets[i]);
  }
  for (const ServiceEntry& e : snap->services) {
    ServiceStats& s = out.services.emplace_back();
    s.name = e.config->name;
    for (const ServiceSlotCounters& c : rt.services[e.slot]->counters) {
      s.counters.packets += read(c.packets);
      s.counters.bytes += read(c.bytes);
      s.counters.templates_created += read(c.created);
      s.counters.pe_fallbacks += read(c.fallbacks);
      s.no_server += read(c.no_server);
      s.servers_full += read(c.servers_full);
      s.table_full += read(c.table_full);
      s.rate_limited += read(c.rate_limited);
      s.counters.outgoing_packets += read(c.outgoing);
      s.counters.templates_learned += read(c.learned);
      s.unknown_sender += read(c.unknown_sender);
      s.counters.tagged_packets += read(c.tagged);
      s.unknown_tag += read(c.unknown_tag);
      for (std::size_t i = 0; i < kPeStatusCount; ++i) s.fallbacks_by_reason[i] += read(c.by_reason[i]);
    }
    for (const ServerEntry& se : e.servers) {
      ServerStats& v = s.servers.emplace_back();
      v.address = se.config->address;
      v.port = se.config->port;
      v.mark = se.config->mark;
      v.weight = se.config->weight;
      v.max_calls = se.config->max_calls;
      if (const Runtime::Server* rs = rt.server_for(se.ref)) {
        v.up = rs->health.load() == ServerHealth::up;
        v.live_templates = rs->live.load();
        v.overloaded = rs->overloaded.load();
        v.drained = v.weight == 0 && v.live_templates <= 0;
        add_up(v.counters, rs->counters);
      }
    }
  }
  out.templates_live = table_->size();
  out.templates_max = table_->max_size();
  out.templates_expired = table_->expired_total();
  out.schedulers_built = schedulers_built_.load(std::memory_order_relaxed);
  for (const auto& ring : decider_changes_)
    if (ring) out.changes_dropped += ring->dropped();
  if (shared_changes_) out.changes_dropped += shared_changes_->dropped();
  return out;
}

}  // namespace sipvs
