#include "engine/engine.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "engine/scheduler/scheduler.hpp"
#include "engine/source_limiter.hpp"
#include "engine/template_table.hpp"

namespace sipvs {

Seconds monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<Seconds>(ts.tv_sec);
}

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::placed: return "placed";
    case Outcome::no_service: return "no_service";
    case Outcome::no_server: return "no_server";
    case Outcome::bad_packet: return "bad_packet";
  }
  return "?";
}

namespace {

// Each worker writes only its own slot, so a relaxed load+store is enough and
// no two threads write one cache line; readers add the slots up.
using Counter = std::atomic<uint64_t>;
inline void bump(Counter& c, uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
inline uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }

struct alignas(64) ServerSlotCounters {
  Counter packets, bytes, created, fallbacks;
};

struct alignas(64) ServiceSlotCounters {
  Counter packets, bytes, created, fallbacks, no_server, table_full, rate_limited;
  std::array<Counter, kPeStatusCount> by_reason;
};

struct alignas(64) GlobalSlotCounters {
  Counter packets, no_service, table_full, rate_limited;
  std::array<Counter, kPacketStatusCount> bad_packets;
};

// A server handle in templates: slot in the low 16 bits, the slot's
// generation in the high 16, so a reused slot never adopts old templates.
constexpr uint32_t make_ref(uint32_t slot, uint32_t generation) { return slot | (generation << 16); }
constexpr uint32_t ref_slot(uint32_t ref) { return ref & 0xffff; }
constexpr uint32_t ref_generation(uint32_t ref) { return ref >> 16; }

}  // namespace

// What outlives configuration snapshots: per-server live counts and health,
// counters, and which slot each server and service holds.
struct Engine::Runtime final : TemplateListener {
  enum class Health : uint8_t {
    up,
    down,           // its templates stay (on_down keep)
    down_expiring,  // its templates are rescheduled (on_down expire)
  };
  struct Server {
    std::atomic<uint32_t> generation{0};
    std::atomic<int64_t> live{0};
    // Read live by every lookup, whatever snapshot the worker holds.
    std::atomic<Health> health{Health::up};
    std::array<ServerSlotCounters, kMaxWorkers> counters;
  };
  struct Service {
    std::array<ServiceSlotCounters, kMaxWorkers> counters;
  };

  // Slots are allocated once and reused, never freed while the engine lives:
  // workers may still read a slot that a newer snapshot no longer has.
  std::vector<std::unique_ptr<Server>> servers = std::vector<std::unique_ptr<Server>>(kMaxRealServers);
  std::vector<std::unique_ptr<Service>> services = std::vector<std::unique_ptr<Service>>(kMaxServices);
  std::map<std::string, uint32_t> server_slots;   // "service|address|port" -> slot
  std::map<std::string, uint32_t> service_slots;  // service name -> slot
  std::array<GlobalSlotCounters, kMaxWorkers> global;

  Server* server_for(uint32_t ref) const {
    Server* s = servers[ref_slot(ref)].get();
    return s && s->generation.load(std::memory_order_relaxed) == ref_generation(ref) ? s : nullptr;
  }
  void bound(uint32_t ref) override {
    if (Server* s = server_for(ref)) s->live.fetch_add(1, std::memory_order_relaxed);
  }
  void released(uint32_t ref) override {
    if (Server* s = server_for(ref)) s->live.fetch_sub(1, std::memory_order_relaxed);
  }
  // A worker's snapshot may predate a health change, so its scheduler may
  // still pick a server that went down; the lookup asks here, as IPVS's
  // ip_vs_check_template looks at the server itself rather than at the
  // template. `known` says whether the worker's snapshot has the server.
  ServerFit fit(uint32_t ref, bool known) const {
    const Server* s = known ? server_for(ref) : nullptr;
    if (!s) return ServerFit::gone;
    switch (s->health.load(std::memory_order_relaxed)) {
      case Health::up: return ServerFit::take;
      case Health::down: return ServerFit::keep;
      case Health::down_expiring: break;
    }
    return ServerFit::gone;
  }
};

namespace {

std::string server_key(const std::string& service, const RealServerConfig& r) {
  return service + "|" + r.address.to_string() + "|" + std::to_string(r.port);
}

// The slots a running configuration holds; publish() marks the ones it hands out.
std::vector<bool> held(const std::map<std::string, uint32_t>& slots, std::size_t size) {
  std::vector<bool> taken(size);
  for (const auto& [key, slot] : slots) taken[slot] = true;
  return taken;
}

// A scheduler built from `a` picks as one built from `b` would.
bool same_servers(const std::vector<SchedServer>& a, const std::vector<SchedServer>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const SchedServer& x, const SchedServer& y) {
    return x.address == y.address && x.port == y.port && x.weight == y.weight && x.up == y.up &&
           x.live_templates == y.live_templates;
  });
}

// validate() and Engine::apply() made sure that there is one.
uint32_t take_free_slot(std::vector<bool>& taken, const char* what) {
  const auto it = std::find(taken.begin(), taken.end(), false);
  if (it == taken.end()) throw std::length_error(std::string("too many ") + what);
  *it = true;
  return static_cast<uint32_t>(it - taken.begin());
}

}  // namespace

struct ServiceEntry;

struct ServerEntry {
  const RealServerConfig* config;
  uint32_t ref;
  const ServiceEntry* service;
};

struct ServiceEntry {
  const ServiceConfig* config;
  uint32_t slot;
  unsigned prefix;   // persistence mask
  bool persistent;
  bool per_flow;     // non-persistent without one-packet: entries keyed by client port too
  uint32_t timeout;  // seconds a template lives after its last packet
  std::unique_ptr<PersistenceEngine> pe;
  // Shared with the service's entries in later snapshots while what it was
  // built from stays the same: a change elsewhere neither rebuilds it (an mh
  // table is 65521 slots) nor moves its position.
  std::shared_ptr<Scheduler> scheduler;
  std::vector<SchedServer> scheduled;  // what `scheduler` was built from
  std::vector<ServerEntry> servers;
};

class Snapshot {
 public:
  EngineConfig config;
  std::vector<ServiceEntry> services;
  std::unordered_map<uint64_t, std::vector<std::size_t>> by_vip;  // hash of (vip, port) -> candidates
  std::unordered_map<uint32_t, std::size_t> by_fwmark;
  // Every service's servers by their slot: templates name servers by
  // reference, and each packet that hits one looks its server up.
  std::vector<const ServerEntry*> by_server_slot = std::vector<const ServerEntry*>(kMaxRealServers);

  // The server `ref` names, if it is still one of `service`'s.
  const ServerEntry* server(const ServiceEntry& service, uint32_t ref) const {
    const uint32_t slot = ref_slot(ref);
    const ServerEntry* s = slot < by_server_slot.size() ? by_server_slot[slot] : nullptr;
    return s && s->ref == ref && s->service == &service ? s : nullptr;
  }

  // Not keyed: the map holds only configured services, so a crafted
  // destination can at worst land in a bucket of those few.
  static uint64_t vip_hash(const IpAddress& a, uint16_t port) {
    uint64_t lo, hi;
    std::memcpy(&lo, a.bytes.data(), 8);
    std::memcpy(&hi, a.bytes.data() + 8, 8);
    return (lo * 0x9e3779b97f4a7c15ULL) ^ (hi * 0xc2b2ae3d27d4eb4fULL) ^ port;
  }

  const ServiceEntry* find(const PacketView& p, PacketStatus status, uint32_t mark) const {
    if (!by_fwmark.empty()) {
      if (auto it = by_fwmark.find(mark); it != by_fwmark.end()) return &services[it->second];
    }
    if (status != PacketStatus::ok) return nullptr;
    auto it = by_vip.find(vip_hash(p.dst, p.dport));
    if (it == by_vip.end()) return nullptr;
    for (std::size_t i : it->second) {
      const ServiceConfig& c = *services[i].config;
      if (c.vip == p.dst && c.port == p.dport && c.protocol == p.protocol) return &services[i];
    }
    return nullptr;
  }

  const ServiceEntry* by_name(std::string_view name) const {
    for (const ServiceEntry& s : services)
      if (s.config->name == name) return &s;
    return nullptr;
  }

  // The service a template belongs to, from the fixed part of its key.
  const ServiceEntry* owner(const TemplateKey& k) const {
    for (const ServiceEntry& s : services) {
      const ServiceConfig& c = *s.config;
      if (c.is_fwmark() ? k.fwmark == c.fwmark
                        : (k.fwmark == 0 && k.vport == c.port && k.protocol == c.protocol &&
                           std::equal(c.vip.bytes.begin(), c.vip.bytes.end(), k.vaddr)))
        return &s;
    }
    return nullptr;
  }
};

namespace {

TemplateKey make_key(const ServiceEntry& s, const IpAddress& client, uint16_t client_port, std::string_view pe_data) {
  TemplateKey k;
  const IpAddress masked = client.masked(std::min(s.prefix, client.max_prefix()));
  std::copy(masked.bytes.begin(), masked.bytes.end(), k.client);
  k.client_family = static_cast<uint8_t>(client.family);
  const ServiceConfig& c = *s.config;
  if (c.is_fwmark()) {
    k.fwmark = c.fwmark;
  } else {
    std::copy(c.vip.bytes.begin(), c.vip.bytes.end(), k.vaddr);
    k.vaddr_family = static_cast<uint8_t>(c.vip.family);
    k.vport = c.port;
    k.protocol = c.protocol;
  }
  k.cport = s.per_flow ? client_port : 0;
  k.pe_len = static_cast<uint8_t>(pe_data.size());
  return k;
}

}  // namespace

Engine::Engine(EngineConfig config) : runtime_(std::make_unique<Runtime>()) {
  if (auto error = validate(config)) throw std::invalid_argument(error->message());
  const HashKey secret = HashKey::random();
  table_ = std::make_unique<TemplateTable>(config.max_templates, secret, *runtime_);
  source_limiter_ = std::make_unique<SourceLimiter>(secret);
  std::lock_guard lock(mutex_);
  publish(std::move(config));
}

Engine::~Engine() = default;

std::shared_ptr<const Snapshot> Engine::current() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

// Builds the snapshot for `config` (valid), maps servers to their slots
// (kept across changes by service name, address and port), publishes it and
// drops the templates of servers that are gone. Called with mutex_ held.
std::shared_ptr<const Snapshot> Engine::publish(EngineConfig config) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  Runtime& rt = *runtime_;

  std::map<std::string, uint32_t> server_slots, service_slots;
  // New servers and services never get a slot that a running one holds, even
  // one the new configuration drops (workers may still use the old snapshot).
  std::vector<bool> server_taken = held(rt.server_slots, rt.servers.size());
  std::vector<bool> service_taken = held(rt.service_slots, rt.services.size());
  snap->services.reserve(snap->config.services.size());
  std::unordered_map<std::string_view, const ServiceEntry*> running_by_name;
  if (snapshot_)
    for (const ServiceEntry& e : snapshot_->services) running_by_name[e.config->name] = &e;
  for (const ServiceConfig& c : snap->config.services) {
    ServiceEntry& e = snap->services.emplace_back();
    e.config = &c;
    auto old = rt.service_slots.find(c.name);
    e.slot = old != rt.service_slots.end() ? old->second : take_free_slot(service_taken, "services");
    service_slots[c.name] = e.slot;
    if (!rt.services[e.slot]) rt.services[e.slot] = std::make_unique<Runtime::Service>();
    e.persistent = c.persistence_timeout > 0;
    e.per_flow = !e.persistent && !c.one_packet;
    e.timeout = e.persistent ? c.persistence_timeout : snap->config.udp_timeout;
    e.prefix = c.netmask.value_or(128);
    if (!c.pe.empty()) e.pe = make_persistence_engine(c.pe, c.pe_param);  // validated: does not throw

    std::vector<SchedServer> sched;
    for (const RealServerConfig& r : c.servers) {
      const std::string key = server_key(c.name, r);
      uint32_t slot;
      if (auto it = rt.server_slots.find(key); it != rt.server_slots.end()) {
        slot = it->second;
      } else {
        // A new server, or a slot freed earlier: a new generation disowns old templates.
        slot = take_free_slot(server_taken, "real servers");
        if (!rt.servers[slot]) rt.servers[slot] = std::make_unique<Runtime::Server>();
        Runtime::Server& s = *rt.servers[slot];
        s.generation.store((s.generation.load() + 1) & 0xffff);
        s.live.store(0);
        s.health.store(Runtime::Health::up);
      }
      server_slots[key] = slot;
      Runtime::Server& s = *rt.servers[slot];
      e.servers.push_back({&r, make_ref(slot, s.generation.load()), &e});
      sched.push_back({r.address, r.port, r.weight, s.health.load() == Runtime::Health::up, &s.live});
    }
    const auto running = running_by_name.find(c.name);
    const ServiceEntry* before = running != running_by_name.end() ? running->second : nullptr;
    if (before && before->config->scheduler == c.scheduler && same_servers(before->scheduled, sched)) {
      e.scheduler = before->scheduler;
    } else {
      e.scheduler = make_scheduler(c.scheduler, sched);
      if (before) e.scheduler->continue_from(*before->scheduler);
      schedulers_built_.fetch_add(1, std::memory_order_relaxed);
    }
    e.scheduled = std::move(sched);
  }

  for (std::size_t i = 0; i < snap->services.size(); ++i) {
    for (const ServerEntry& r : snap->services[i].servers) snap->by_server_slot[ref_slot(r.ref)] = &r;
    const ServiceConfig& c = *snap->services[i].config;
    if (c.is_fwmark())
      snap->by_fwmark[c.fwmark] = i;
    else
      snap->by_vip[Snapshot::vip_hash(c.vip, c.port)].push_back(i);
  }

  // Servers that are gone: bump their generation so that in-flight and
  // stored references to them stop counting, then drop their templates.
  std::vector<uint32_t> gone;
  for (const auto& [key, slot] : rt.server_slots)
    if (!server_slots.count(key)) {
      Runtime::Server& s = *rt.servers[slot];
      gone.push_back(make_ref(slot, s.generation.load()));
      s.generation.store((s.generation.load() + 1) & 0xffff);
    }
  rt.server_slots = std::move(server_slots);
  rt.service_slots = std::move(service_slots);

  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = snap;
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (!gone.empty())
    table_->remove_if([&](const Template& t) { return std::find(gone.begin(), gone.end(), t.server_ref) != gone.end(); });
  return snap;
}

std::optional<ConfigError> Engine::apply(EngineConfig config) {
  if (auto error = validate(config)) return error;
  std::lock_guard lock(mutex_);
  if (config.max_templates != snapshot_->config.max_templates)
    return ConfigError{"max_templates", "cannot change while running (restart to resize the table)",
                       ConfigError::Kind::needs_restart};
  // validate() saw the new configuration alone. publish() gives new servers
  // and services slots that no running one holds, even one this change drops
  // (its slot is free for the next change), so both must fit at once.
  const Runtime& rt = *runtime_;
  std::size_t services = rt.service_slots.size(), servers = rt.server_slots.size();
  for (const ServiceConfig& c : config.services) {
    services += rt.service_slots.count(c.name) == 0;
    for (const RealServerConfig& r : c.servers) servers += rt.server_slots.count(server_key(c.name, r)) == 0;
  }
  const auto too_many = [](std::size_t need, std::size_t limit, const char* what) {
    return ConfigError{"services", "with the running ones it replaces, this change needs " + std::to_string(need) +
                                       " " + what + " of the engine's " + std::to_string(limit) +
                                       ": remove in one change, add in the next"};
  };
  if (services > kMaxServices) return too_many(services, kMaxServices, "services");
  if (servers > kMaxRealServers) return too_many(servers, kMaxRealServers, "real servers");
  publish(std::move(config));
  return std::nullopt;
}

EngineConfig Engine::config() const { return current()->config; }

bool Engine::set_server_up(std::string_view service, const IpAddress& address, uint16_t port, bool up,
                           bool drop_templates) {
  std::lock_guard lock(mutex_);
  const std::shared_ptr<const Snapshot> snap = snapshot_;  // publish() replaces snapshot_
  const ServiceEntry* s = snap->by_name(service);
  if (!s) return false;
  for (const ServerEntry& e : s->servers) {
    if (e.config->address != address || e.config->port != port) continue;
    const uint32_t ref = e.ref;
    using Health = Runtime::Health;
    const Health health = up ? Health::up : drop_templates ? Health::down_expiring : Health::down;
    const bool changed = (runtime_->server_for(ref)->health.exchange(health) == Health::up) != up;
    if (changed) publish(snap->config);  // this service's scheduler is rebuilt with the new health
    if (!up && drop_templates) table_->remove_if([ref](const Template& t) { return t.server_ref == ref; });
    return true;
  }
  return false;
}

Engine::Worker Engine::make_worker() {
  for (unsigned i = 0; i < kMaxWorkers; ++i) {
    bool expected = false;
    if (slots_used_[i].compare_exchange_strong(expected, true)) return Worker(*this, i);
  }
  throw std::length_error("too many engine workers");
}

Engine::Worker::Worker(Engine& engine, unsigned slot) : engine_(&engine), slot_(slot) { refresh(); }

Engine::Worker::Worker(Worker&& other) noexcept
    : engine_(std::exchange(other.engine_, nullptr)), slot_(other.slot_), generation_(other.generation_),
      snapshot_(std::move(other.snapshot_)) {}

Engine::Worker::~Worker() {
  if (engine_) engine_->slots_used_[slot_].store(false);
}

void Engine::Worker::refresh() {
  const uint64_t g = engine_->generation_.load(std::memory_order_acquire);
  if (g == generation_ && snapshot_) return;
  // Often the last reference to the old snapshot (its maps, an mh table):
  // released after the lock, so that no other worker's refresh waits on it.
  const std::shared_ptr<const Snapshot> previous = std::move(snapshot_);
  std::lock_guard lock(engine_->snapshot_mutex_);
  snapshot_ = engine_->snapshot_;
  generation_ = engine_->generation_.load(std::memory_order_relaxed);
}

uint64_t Engine::Worker::caller_data() const { return snapshot_->config.caller_data; }

Decision Engine::Worker::decide(std::span<const uint8_t> packet, uint32_t packet_mark, Seconds now) {
  Runtime& rt = *engine_->runtime_;
  GlobalSlotCounters& global = rt.global[slot_];
  bump(global.packets);
  Decision d;
  PacketView pv;
  d.packet_status = parse_packet(packet, pv);
  if (d.packet_status == PacketStatus::truncated || d.packet_status == PacketStatus::bad_header) {
    bump(global.bad_packets[static_cast<std::size_t>(d.packet_status)]);
    return d;
  }
  const ServiceEntry* svc = snapshot_->find(pv, d.packet_status, packet_mark);
  if (!svc) {
    if (d.packet_status == PacketStatus::ok) {
      d.outcome = Outcome::no_service;
      bump(global.no_service);
    } else {
      bump(global.bad_packets[static_cast<std::size_t>(d.packet_status)]);
    }
    return d;
  }
  d.service = svc->config;
  ServiceSlotCounters& sc = rt.services[svc->slot]->counters[slot_];
  bump(sc.packets);
  bump(sc.bytes, packet.size());

  std::string_view pe_data;
  if (svc->pe) {
    d.pe_status = d.packet_status == PacketStatus::ok ? svc->pe->fill_pe_data(pv, scratch_, pe_data)
                                                      : PeStatus::wrong_protocol;
    if (d.pe_status == PeStatus::matched) {
      d.pe_used = true;
      d.pe_data = pe_data;
    } else {
      pe_data = {};  // fall back to plain persistence, as IPVS's PE framework does
      bump(sc.fallbacks);
      bump(sc.by_reason[static_cast<std::size_t>(d.pe_status)]);
    }
  }

  const SchedRequest request{pv.src, pv.sport, pe_data};
  auto schedule = [&]() -> std::optional<uint32_t> {
    auto i = svc->scheduler->pick(request);
    return i ? std::optional(svc->servers[*i].ref) : std::nullopt;
  };
  std::optional<uint32_t> ref;
  if (svc->persistent || svc->per_flow) {
    const TemplateKey key = make_key(*svc, pv.src, pv.sport, pe_data);
    TemplateTable& table = *engine_->table_;
    const EngineConfig& config = snapshot_->config;
    const unsigned source_prefix = pv.src.is_v4() ? config.per_source_prefix_v4 : config.per_source_prefix_v6;
    const LookupResult r = table.lookup(
        key, table.hash(key, svc->pe.get(), pe_data), svc->pe.get(), pe_data, now, svc->timeout,
        [&](uint32_t ref) { return rt.fit(ref, snapshot_->server(*svc, ref) != nullptr); }, schedule,
        [&] { return engine_->source_limiter_->allow(pv.src, source_prefix, now, config.max_new_templates_per_source); });
    ref = r.server_ref;
    d.template_hit = r.hit;
    d.template_created = r.created;
    d.table_full = r.full;
    d.rate_limited = r.limited;
    if (r.full) {
      bump(sc.table_full);
      bump(global.table_full);
    }
    if (r.limited) {
      bump(sc.rate_limited);
      bump(global.rate_limited);
    }
  } else {
    ref = schedule();  // one-packet scheduling: no entry kept
  }

  const ServerEntry* server = ref ? snapshot_->server(*svc, *ref) : nullptr;
  if (!server) {
    d.outcome = Outcome::no_server;
    bump(sc.no_server);
    return d;
  }
  d.outcome = Outcome::placed;
  d.server = server->config;
  d.mark = server->config->mark;
  if (d.template_created) bump(sc.created);
  if (Runtime::Server* rs = rt.server_for(server->ref)) {
    ServerSlotCounters& c = rs->counters[slot_];
    bump(c.packets);
    bump(c.bytes, packet.size());
    if (d.template_created) bump(c.created);
    if (svc->pe && !d.pe_used) bump(c.fallbacks);
  }
  return d;
}

std::size_t Engine::expire_step(Seconds now, std::size_t budget) { return table_->expire_step(now, budget); }

namespace {

bool matches(const TemplateFilter& f, const ServiceEntry* svc, const ServerEntry* server, const Template& t) {
  if (f.service && (!svc || svc->config->name != *f.service)) return false;
  if (f.server && (!server || server->config->address != *f.server)) return false;
  if (f.server_port && (!server || server->config->port != *f.server_port)) return false;
  if (f.pe_data && t.pe() != *f.pe_data) return false;
  if (f.client && !std::equal(f.client->bytes.begin(), f.client->bytes.end(), t.key.client)) return false;
  return true;
}

}  // namespace

std::vector<TemplateInfo> Engine::templates(const TemplateFilter& filter, Seconds now) const {
  auto snap = current();
  // Copies of the matches, taken under each shard's lock and described after
  // it, so that a worker hashing to that shard never waits for string work;
  // the walk stops at the limit.
  struct Found {
    Template t;
    const ServiceEntry* svc;
    const ServerEntry* server;
  };
  std::vector<Found> found;
  std::size_t skipped = 0;
  table_->for_each([&](const Template& t) {
    if (found.size() >= filter.limit) return false;
    if (expired(t, now)) return true;
    const ServiceEntry* svc = snap->owner(t.key);
    const ServerEntry* server = svc ? snap->server(*svc, t.server_ref) : nullptr;
    if (!matches(filter, svc, server, t)) return true;
    if (skipped++ >= filter.offset) found.push_back({t, svc, server});
    return true;
  });
  std::vector<TemplateInfo> out;
  out.reserve(found.size());
  for (const auto& [t, svc, server] : found) {
    TemplateInfo& i = out.emplace_back();
    if (svc) i.service = svc->config->name;
    i.protocol = t.key.protocol;
    i.client.family = static_cast<IpAddress::Family>(t.key.client_family);
    std::copy(t.key.client, t.key.client + 16, i.client.bytes.begin());
    i.client_port = t.key.cport;
    i.vip.family = static_cast<IpAddress::Family>(t.key.vaddr_family);
    std::copy(t.key.vaddr, t.key.vaddr + 16, i.vip.bytes.begin());
    i.vport = t.key.vport;
    i.fwmark = t.key.fwmark;
    if (server) {
      i.server = server->config->address;
      i.server_port = server->config->port;
      i.mark = server->config->mark;
    }
    if (t.key.pe_len) {
      i.pe_data = std::string(t.pe());
      i.pe_name = svc && svc->pe ? std::string(svc->pe->name()) : "";
      i.pe_shown = svc && svc->pe ? svc->pe->show_pe_data(t.pe()) : i.pe_data;
    }
    i.expires_in = t.expires - now;
  }
  return out;
}

std::size_t Engine::flush_templates(const TemplateFilter& filter) {
  auto snap = current();
  return table_->remove_if([&](const Template& t) {
    const ServiceEntry* svc = snap->owner(t.key);
    return matches(filter, svc, svc ? snap->server(*svc, t.server_ref) : nullptr, t);
  });
}

bool Engine::restore_template(const TemplateInfo& info, Seconds now) {
  auto snap = current();
  const ServiceEntry* svc = snap->by_name(info.service);
  if (!svc || info.expires_in == 0 || info.pe_data.size() > kMaxSipValue) return false;
  if (!info.pe_data.empty() && !svc->pe) return false;
  const ServerEntry* server = nullptr;
  for (const ServerEntry& s : svc->servers)
    if (s.config->address == info.server && s.config->port == info.server_port) server = &s;
  if (!server) return false;
  const TemplateKey key = make_key(*svc, info.client, info.client_port, info.pe_data);
  return table_->insert(key, table_->hash(key, svc->pe.get(), info.pe_data), info.pe_data, server->ref,
                        now + std::min(info.expires_in, svc->timeout));
}

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
      s.table_full += read(c.table_full);
      s.rate_limited += read(c.rate_limited);
      for (std::size_t i = 0; i < kPeStatusCount; ++i) s.fallbacks_by_reason[i] += read(c.by_reason[i]);
    }
    for (const ServerEntry& se : e.servers) {
      ServerStats& v = s.servers.emplace_back();
      v.address = se.config->address;
      v.port = se.config->port;
      v.mark = se.config->mark;
      v.weight = se.config->weight;
      if (const Runtime::Server* rs = rt.server_for(se.ref)) {
        v.up = rs->health.load() == Runtime::Health::up;
        v.live_templates = rs->live.load();
        for (const ServerSlotCounters& c : rs->counters) {
          v.counters.packets += read(c.packets);
          v.counters.bytes += read(c.bytes);
          v.counters.templates_created += read(c.created);
          v.counters.pe_fallbacks += read(c.fallbacks);
        }
      }
    }
  }
  out.templates_live = table_->size();
  out.templates_max = table_->max_size();
  out.templates_expired = table_->expired_total();
  out.schedulers_built = schedulers_built_.load(std::memory_order_relaxed);
  return out;
}

std::size_t Engine::template_count() const { return table_->size(); }

}  // namespace sipvs
