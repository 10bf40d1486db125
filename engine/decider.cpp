// Engine::Decider: one per data-path thread. decide() reads as IPVS's
// ip_vs_schedule and ip_vs_sched_persist do: find the packet's service; for a
// persistent one, the call's template decides, and on a miss the scheduler
// picks a server and a template is stored. Counting is apart, in count().
#include <algorithm>
#include <utility>

#include "engine/change_log.hpp"
#include "engine/engine.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/snapshot.hpp"
#include "engine/source_limiter.hpp"

namespace sipvs {

Engine::Decider::Decider(Engine& engine, unsigned slot)
    : engine_(&engine), slot_(slot), changes_(engine.decider_changes_[slot].get()) {
  refresh();
}

Engine::Decider::Decider(Decider&& other) noexcept
    : engine_(std::exchange(other.engine_, nullptr)), slot_(other.slot_), generation_(other.generation_),
      snapshot_(std::move(other.snapshot_)), changes_(other.changes_) {}

Engine::Decider::~Decider() {
  if (!engine_) return;
  flush_mirror();  // the next decider in the slot may never flush
  engine_->slots_used_[slot_].store(false);
}

void Engine::Decider::flush_mirror() {
  if (TemplateMirror* mirror = engine_->table_->mirror()) mirror->flush(slot_);
}

void Engine::Decider::refresh() {
  const uint64_t g = engine_->generation_.load(std::memory_order_acquire);
  if (g == generation_ && snapshot_) return;
  // Often the last reference to the old snapshot (its maps, an mh table):
  // released after the lock, so that no other worker's refresh waits on it.
  const std::shared_ptr<const Snapshot> previous = std::move(snapshot_);
  MutexLock lock(engine_->snapshot_mutex_);
  snapshot_ = engine_->snapshot_;
  generation_ = engine_->generation_.load(std::memory_order_relaxed);
}

uint64_t Engine::Decider::caller_data() const { return snapshot_->config.caller_data; }

Decision Engine::Decider::decide(std::span<const uint8_t> packet, uint32_t packet_mark, Seconds now) {
  Decision d;
  d.packet_status = parse_packet(packet, d.packet);
  const bool readable = d.packet_status != PacketStatus::truncated && d.packet_status != PacketStatus::bad_header;
  const ServiceEntry* svc = readable ? snapshot_->find(d.packet, d.packet_status, packet_mark) : nullptr;
  if (!svc && d.packet_status == PacketStatus::ok) {
    if (const ServiceEntry* from = snapshot_->find_by_source(d.packet)) {
      d.service = from->config;
      d.outcome = Outcome::outgoing;
      return d;  // learn() finishes and counts it
    }
  }
  const ServerEntry* server = nullptr;
  if (svc) {
    d.service = svc->config;
    const std::string_view pe_data = find_pe_data(*svc, d);
    std::optional<uint32_t> ref;
    if (const ServerEntry* named = tagged_server(*svc, d)) {
      ref = named->ref;
      if (svc->keeps_templates() && d.pe_used)
        bind_template(*svc, *named, make_key(*svc, d.packet.src, d.packet.sport, pe_data), true, now, d);
    } else {
      ref = svc->keeps_templates() ? sched_persist(*svc, pe_data, now, d)
                                   : schedule(*svc, pe_data, d);  // one-packet: no entry kept
    }
    server = ref ? snapshot_->server(*svc, *ref) : nullptr;
  }
  if (server) {
    d.outcome = Outcome::placed;
    d.server = server->config;
    d.mark = server->config->mark;
  } else if (svc) {
    d.outcome = Outcome::no_server;
  } else {
    d.outcome = d.packet_status == PacketStatus::ok ? Outcome::no_service : Outcome::bad_packet;
  }
  count(d, svc, server, packet.size());
  return d;
}

// The PE's data for the template key (the Call-ID). Without it the service
// falls back to plain persistence, as IPVS's PE framework does.
std::string_view Engine::Decider::find_pe_data(const ServiceEntry& svc, Decision& d) {
  if (!svc.pe) return {};
  std::string_view pe_data;
  d.pe_status = d.packet_status == PacketStatus::ok ? svc.pe->fill_pe_data(d.packet, scratch_, pe_data)
                                                    : PeStatus::wrong_protocol;
  if (d.pe_status != PeStatus::matched) return {};
  d.pe_used = true;
  d.pe_data = pe_data;
  return pe_data;
}

// The server a message names itself (a sip-tag PE's tag), if it is one of
// the service's that still holds its calls: it decides before any template,
// as the server that knows the call said so.
const ServerEntry* Engine::Decider::tagged_server(const ServiceEntry& svc, Decision& d) {
  if (!svc.pe || d.packet_status != PacketStatus::ok || !svc.pe->find_server_tag(d.packet, tag_scratch_, d.tag))
    return nullptr;
  for (const ServerEntry& e : svc.servers) {
    if (e.config->tag != d.tag) continue;
    d.tagged = fit(svc, e.ref) != ServerFit::gone;
    return d.tagged ? &e : nullptr;
  }
  return nullptr;
}

// None when no server takes calls, or when each that does is full: then
// the scheduler passed over them all for their max_calls.
std::optional<uint32_t> Engine::Decider::schedule(const ServiceEntry& svc, std::string_view pe_data,
                                                  Decision& d) const {
  const std::optional<std::size_t> i = svc.scheduler->pick(SchedRequest{d.packet.src, d.packet.sport, pe_data});
  if (i) return svc.servers[*i].ref;
  d.servers_full = std::ranges::any_of(svc.scheduled, &SchedServer::available);
  return std::nullopt;
}

ServerFit Engine::Decider::fit(const ServiceEntry& svc, uint32_t ref) const {
  return engine_->runtime_->fit(ref, snapshot_->server(svc, ref) != nullptr);
}

// The call's template, refreshed; on a miss, or when the template's server is
// gone, the server the scheduler picks. The scheduler runs outside the
// bucket's lock; a worker that placed the same call meanwhile wins, so all
// workers agree on each call's server. A server that takes no new calls
// (its worker's snapshot predates a health change) gets the packet, no template.
std::optional<uint32_t> Engine::Decider::sched_persist(const ServiceEntry& svc, std::string_view pe_data, Seconds now,
                                                      Decision& d) {
  TemplateTable& table = *engine_->table_;
  const TemplateKey key = make_key(svc, d.packet.src, d.packet.sport, pe_data);
  const uint64_t hash = table.hash(key, svc.pe.get(), pe_data);
  // A template whose server still holds its calls decides, refreshed.
  const auto holds = [&](const Template* t) { return t && fit(svc, t->server_ref) != ServerFit::gone; };
  const auto refreshed = [&](Template& t, bool moved = false) {
    t.expires = now + svc.timeout;
    d.template_hit = true;
    used(t, svc, now, moved);
    return std::optional(t.server_ref);
  };
  {
    TemplateTable::Bucket bucket = table.bucket(key, hash, svc.pe.get(), pe_data);
    if (Template* t = bucket.find(now); holds(t)) return refreshed(*t);
  }
  const std::optional<uint32_t> ref = schedule(svc, pe_data, d);
  if (!ref) return ref;
  TemplateTable::Bucket bucket = table.bucket(key, hash, svc.pe.get(), pe_data);
  Template* t = bucket.find(now);
  if (holds(t)) return refreshed(*t);  // another worker placed the call meanwhile
  const bool takes_calls = fit(svc, *ref) == ServerFit::take;
  if (t) {  // its server is gone: the call moves to the one just picked
    if (!takes_calls) {
      bucket.erase(*t);
      return ref;
    }
    bucket.rebind(*t, *ref, TemplateOrigin::scheduled);
    return refreshed(*t, true);
  }
  if (!takes_calls) return ref;
  d.table_full = bucket.full(now);
  d.rate_limited = !d.table_full && !source_allows(d.packet.src, now);
  if (d.table_full || d.rate_limited) return ref;
  used(bucket.insert(*ref, TemplateOrigin::scheduled, now + svc.timeout, now), svc, now, true);
  d.template_created = true;
  return ref;
}

// A packet was decided with t (under its bucket's lock). The mirror's copy
// follows (the fast path). The other directors hear of it (template sync):
// at once when it is new or moved, else once half its timeout has passed
// since they last heard of it, before their copy could expire. A change the
// log has no room for is counted there; the template's next packet tries again.
void Engine::Decider::used(Template& t, const ServiceEntry& svc, Seconds now, bool changed) {
  if (TemplateMirror* mirror = engine_->table_->mirror())
    if (const ServerEntry* server = snapshot_->server(svc, t.server_ref))
      mirror->used(t, *svc.config, *server->config, slot_);
  if (!changes_ || (!changed && now - t.announced < svc.timeout / 2)) return;
  if (changes_->push(t, false)) t.announced = now;
}

// EngineConfig::max_new_templates_per_source: may `source` store one more?
bool Engine::Decider::source_allows(const IpAddress& source, Seconds now) const {
  const EngineConfig& config = snapshot_->config;
  const unsigned prefix = source.is_v4() ? config.per_source_prefix_v4 : config.per_source_prefix_v6;
  return engine_->source_limiter_->allow(source, prefix, now, config.max_new_templates_per_source);
}

void Engine::Decider::learn(Decision& d, std::span<const IpAddress> sender_addresses, Seconds now) {
  const ServiceEntry* svc = d.outcome == Outcome::outgoing ? snapshot_->find_by_source(d.packet) : nullptr;
  if (!svc) return;
  const ServerEntry* server = sender_entry(*svc, sender_addresses, d.packet.sport);
  if (server) {
    d.outcome = Outcome::learned;
    d.server = server->config;
    d.mark = server->config->mark;
    find_pe_data(*svc, d);
    // Keyed as a message from the remote party (the client: where this one
    // goes), so that what comes back for the call finds it.
    if (svc->keeps_templates())
      bind_template(*svc, *server, make_key(*svc, d.packet.dst, d.packet.dport, d.pe_data), false, now, d);
  } else {
    d.outcome = Outcome::unknown_sender;
  }
  count(d, svc, server, 0);
}

// The server entry of a message's sender: the one address of the service's
// servers among the sender host's (two would leave the sender unknown), and
// its port too when the service has the address more than once. Not a
// server whose calls are being moved away (removed, or down with on_down expire).
const ServerEntry* Engine::Decider::sender_entry(const ServiceEntry& svc, std::span<const IpAddress> addresses,
                                                 uint16_t sport) const {
  const ServerEntry* found = nullptr;
  for (const IpAddress& a : addresses) {
    for (const ServerEntry& e : svc.servers) {
      if (e.config->address != a) continue;
      if (found && found->config->address != a) return nullptr;
      if (!found || server_port(*svc.config, *e.config) == sport) found = &e;
    }
  }
  return found && fit(svc, found->ref) != ServerFit::gone ? found : nullptr;
}

// The call's template under `key`, naming `server` whoever it named before:
// the server itself said the call is its own (it sent the message, or the
// message carries its tag). Only a template a client's message creates is
// rate limited: the limit guards against clients, not against the servers.
// Nor is it refused by the server's max_calls: the call is the server's own.
void Engine::Decider::bind_template(const ServiceEntry& svc, const ServerEntry& server, const TemplateKey& key,
                                    bool limit_source, Seconds now, Decision& d) {
  TemplateTable& table = *engine_->table_;
  const uint64_t hash = table.hash(key, svc.pe.get(), d.pe_data);
  TemplateTable::Bucket bucket = table.bucket(key, hash, svc.pe.get(), d.pe_data);
  Template* t = bucket.find(now);
  if (!t) {
    d.table_full = bucket.full(now);
    d.rate_limited = !d.table_full && limit_source && !source_allows(d.packet.src, now);
    if (d.table_full || d.rate_limited) return;
    used(bucket.insert(server.ref, TemplateOrigin::learned, now + svc.timeout, now), svc, now, true);
    d.template_created = true;
    return;
  }
  if (t->server_ref == server.ref) {
    d.template_hit = true;
  } else {
    bucket.rebind(*t, server.ref, TemplateOrigin::learned);
    d.template_moved = true;
  }
  t->expires = now + svc.timeout;
  used(*t, svc, now, d.template_moved);
}

// Every counter a decision moves, as IPVS's ip_vs_conn_stats does for a
// connection: the worker's own slot of the global, service and server counters.
void Engine::Decider::count(const Decision& d, const ServiceEntry* svc, const ServerEntry* server,
                           std::size_t bytes) {
  Runtime& rt = *engine_->runtime_;
  GlobalSlotCounters& global = rt.global[slot_];
  bump(global.packets);
  if (!svc) {
    if (d.outcome == Outcome::no_service)
      bump(global.no_service);
    else
      bump(global.bad_packets[static_cast<std::size_t>(d.packet_status)]);
    return;
  }
  ServiceSlotCounters& sc = rt.services[svc->slot]->counters[slot_];
  if (d.outcome == Outcome::learned || d.outcome == Outcome::unknown_sender) {
    count_outgoing(d, sc, server);
    return;
  }
  bump(sc.packets);
  bump(sc.bytes, bytes);
  const bool fell_back = svc->pe && !d.pe_used;
  if (fell_back) {
    bump(sc.fallbacks);
    bump(sc.by_reason[static_cast<std::size_t>(d.pe_status)]);
  }
  if (d.table_full) {
    bump(sc.table_full);
    bump(global.table_full);
  }
  if (d.rate_limited) {
    bump(sc.rate_limited);
    bump(global.rate_limited);
  }
  if (!d.tag.empty() && !d.tagged) bump(sc.unknown_tag);
  if (!server) {
    bump(sc.no_server);
    if (d.servers_full) bump(sc.servers_full);
    return;
  }
  // A template a tag stored or moved is learned from the server, not scheduled.
  const bool created = d.template_created && !d.tagged;
  const bool learned = d.tagged && (d.template_created || d.template_moved);
  if (created) bump(sc.created);
  if (d.tagged) bump(sc.tagged);
  if (learned) bump(sc.learned);
  if (Runtime::Server* rs = rt.server_for(server->ref)) {
    ServerSlotCounters& c = rs->counters[slot_];
    bump(c.packets);
    bump(c.bytes, bytes);
    if (created) bump(c.created);
    if (fell_back) bump(c.fallbacks);
    if (d.tagged) bump(c.tagged);
    if (learned) bump(c.learned);
  }
}

// A message a server sent out: what learn() did with its call's template.
void Engine::Decider::count_outgoing(const Decision& d, ServiceSlotCounters& sc, const ServerEntry* server) {
  Runtime& rt = *engine_->runtime_;
  bump(sc.outgoing);
  if (!server) {
    bump(sc.unknown_sender);
    return;
  }
  if (d.table_full) {
    bump(sc.table_full);
    bump(rt.global[slot_].table_full);
  }
  const bool learned = d.template_created || d.template_moved;
  if (learned) bump(sc.learned);
  if (Runtime::Server* rs = rt.server_for(server->ref)) {
    ServerSlotCounters& c = rs->counters[slot_];
    bump(c.outgoing);
    if (learned) bump(c.learned);
  }
}

}  // namespace sipvs
