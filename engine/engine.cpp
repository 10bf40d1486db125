// The engine's control side: configuration changes published as immutable
// snapshots, slots that outlive them, server health, housekeeping. The data
// path (Engine::Decider) is in decider.cpp.
#include "engine/engine.hpp"

#include <time.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "engine/change_log.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/snapshot.hpp"
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
    case Outcome::outgoing: return "outgoing";
    case Outcome::learned: return "learned";
    case Outcome::unknown_sender: return "unknown_sender";
  }
  return "?";
}

namespace {

std::string server_key(const std::string& service, const RealServerConfig& r) {
  return service + "|" + r.address.to_string() + "|" + std::to_string(r.port);
}

// The slots a running configuration holds; new ones are taken from the rest.
std::vector<bool> held(const std::map<std::string, uint32_t>& slots, std::size_t size) {
  std::vector<bool> taken(size);
  for (const auto& [key, slot] : slots) taken[slot] = true;
  return taken;
}

// validate() and Engine::apply() made sure that there is one.
uint32_t take_free_slot(std::vector<bool>& taken, const char* what) {
  const auto it = std::find(taken.begin(), taken.end(), false);
  if (it == taken.end()) throw std::length_error(std::string("too many ") + what);
  *it = true;
  return static_cast<uint32_t>(it - taken.begin());
}

// A scheduler built from `a` picks as one built from `b` would.
bool same_servers(const std::vector<SchedServer>& a, const std::vector<SchedServer>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const SchedServer& x, const SchedServer& y) {
    return x.address == y.address && x.port == y.port && x.weight == y.weight && x.up == y.up &&
           x.live_templates == y.live_templates && x.overloaded == y.overloaded;
  });
}

}  // namespace

// Builds the snapshot of a valid configuration. Servers and services keep
// their slots (by service name, address and port); new ones never get a slot
// that a running one holds, even one the new configuration drops (workers may
// still use the old snapshot). A service keeps its scheduler while what it
// was built from stays the same, as ip_vs_mh_dest_changed rebuilds only the
// service whose servers changed.
class SnapshotBuilder {
 public:
  SnapshotBuilder(Engine::Runtime& rt, const Snapshot* running)
      : rt_(rt),
        server_taken_(held(rt.server_slots, rt.servers.size())),
        service_taken_(held(rt.service_slots, rt.services.size())) {
    if (running)
      for (const ServiceEntry& e : running->services) running_[e.config->name] = &e;
  }

  std::shared_ptr<Snapshot> build(EngineConfig config) {
    auto snap = std::make_shared<Snapshot>();
    snap->config = std::move(config);
    snap->services.reserve(snap->config.services.size());
    for (const ServiceConfig& c : snap->config.services) add_service(snap->services.emplace_back(), c, snap->config);
    for (std::size_t i = 0; i < snap->services.size(); ++i) {
      for (const ServerEntry& r : snap->services[i].servers) snap->by_server_slot[ref_slot(r.ref)] = &r;
      const ServiceConfig& c = *snap->services[i].config;
      if (c.is_fwmark())
        snap->by_fwmark[c.fwmark] = i;
      else
        snap->by_vip[Snapshot::vip_hash(c.vip, c.port)].push_back(i);
    }
    return snap;
  }

  std::map<std::string, uint32_t> server_slots, service_slots;  // the new configuration's
  uint64_t schedulers_built = 0;

 private:
  void add_service(ServiceEntry& e, const ServiceConfig& c, const EngineConfig& config) {
    e.config = &c;
    e.slot = service_slot(c.name);
    e.persistent = c.persistence_timeout > 0;
    e.per_flow = !e.persistent && !c.one_packet;
    e.timeout = e.persistent ? c.persistence_timeout : config.udp_timeout;
    e.prefix = c.netmask.value_or(128);
    if (!c.pe.empty()) e.pe = make_persistence_engine(c.pe, c.pe_param);  // validated: does not throw
    std::vector<SchedServer> sched;
    for (const RealServerConfig& r : c.servers) {
      const uint32_t slot = server_slot(server_key(c.name, r));
      Engine::Runtime::Server& s = *rt_.servers[slot];
      e.servers.push_back({&r, make_ref(slot, s.generation.load()), &e});
      s.set_limits(CallLimits::of(r));  // read live, as its templates come and go: no new scheduler
      sched.push_back({r.address, r.port, r.weight, s.health.load() == ServerHealth::up, &s.live, &s.overloaded});
    }
    const auto running = running_.find(c.name);
    const ServiceEntry* before = running != running_.end() ? running->second : nullptr;
    if (before && before->config->scheduler == c.scheduler && same_servers(before->scheduled, sched)) {
      e.scheduler = before->scheduler;
    } else {
      e.scheduler = make_scheduler(c.scheduler, sched);
      if (before) e.scheduler->continue_from(*before->scheduler);
      ++schedulers_built;
    }
    e.scheduled = std::move(sched);
  }

  uint32_t service_slot(const std::string& name) {
    const auto old = rt_.service_slots.find(name);
    const uint32_t slot = old != rt_.service_slots.end() ? old->second : take_free_slot(service_taken_, "services");
    if (!rt_.services[slot]) rt_.services[slot] = std::make_unique<Engine::Runtime::Service>();
    return service_slots[name] = slot;
  }

  uint32_t server_slot(const std::string& key) {
    if (const auto old = rt_.server_slots.find(key); old != rt_.server_slots.end()) return server_slots[key] = old->second;
    // A new server, or a slot freed earlier: a new generation disowns old templates.
    const uint32_t slot = take_free_slot(server_taken_, "real servers");
    if (!rt_.servers[slot]) rt_.servers[slot] = std::make_unique<Engine::Runtime::Server>();
    Engine::Runtime::Server& s = *rt_.servers[slot];
    s.generation.store((s.generation.load() + 1) & 0xffff);
    s.live.store(0);
    s.health.store(ServerHealth::up);
    s.limits.store(0);
    s.overloaded.store(false);
    return server_slots[key] = slot;
  }

  Engine::Runtime& rt_;
  std::vector<bool> server_taken_, service_taken_;
  std::unordered_map<std::string_view, const ServiceEntry*> running_;  // by name
};

Engine::Engine(ValidConfig config) : runtime_(std::make_unique<Runtime>(*this)) {
  const HashKey secret = HashKey::random();
  table_ = std::make_unique<TemplateTable>(config.get().max_templates, secret, *runtime_);
  source_limiter_ = std::make_unique<SourceLimiter>(secret);
  MutexLock lock(mutex_);
  publish(std::move(config).take());
}

namespace {
ValidConfig valid_or_throw(EngineConfig config) {
  auto v = validated(std::move(config));
  if (auto* error = std::get_if<ConfigError>(&v)) throw std::invalid_argument(error->message());
  return std::get<ValidConfig>(std::move(v));
}
}  // namespace

Engine::Engine(EngineConfig config) : Engine(valid_or_throw(std::move(config))) {}

Engine::~Engine() = default;

std::shared_ptr<const Snapshot> Engine::current() const {
  MutexLock lock(snapshot_mutex_);
  return snapshot_;
}

const std::shared_ptr<const Snapshot>& Engine::running() const SIPVS_NO_THREAD_SAFETY_ANALYSIS { return snapshot_; }

// Publishes the snapshot of `config` (valid) and drops the templates of
// servers that are gone. Called with mutex_ held.
std::shared_ptr<const Snapshot> Engine::publish(EngineConfig config) {
  SnapshotBuilder builder(*runtime_, running().get());
  std::shared_ptr<const Snapshot> snap = builder.build(std::move(config));
  schedulers_built_.fetch_add(builder.schedulers_built, std::memory_order_relaxed);

  // Servers that are gone: bump their generation so that in-flight and
  // stored references to them stop counting, then drop their templates.
  Runtime& rt = *runtime_;
  std::vector<uint32_t> gone;
  for (const auto& [key, slot] : rt.server_slots)
    if (!builder.server_slots.count(key)) {
      Runtime::Server& s = *rt.servers[slot];
      gone.push_back(make_ref(slot, s.generation.load()));
      s.generation.store((s.generation.load() + 1) & 0xffff);
    }
  rt.server_slots = std::move(builder.server_slots);
  rt.service_slots = std::move(builder.service_slots);
  {
    MutexLock lock(snapshot_mutex_);
    snapshot_ = snap;
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (!gone.empty())
    table_->remove_if([&](const Template& t) {
      const bool removed = std::find(gone.begin(), gone.end(), t.server_ref) != gone.end();
      if (removed) log_erased(t);
      return removed;
    });
  return snap;
}

std::optional<ConfigError> Engine::apply(EngineConfig config) {
  auto v = validated(std::move(config));
  if (auto* error = std::get_if<ConfigError>(&v)) return std::move(*error);
  return apply(std::get<ValidConfig>(std::move(v)));
}

std::optional<ConfigError> Engine::apply(ValidConfig valid) {
  const EngineConfig& config = valid.get();
  MutexLock lock(mutex_);
  if (config.max_templates != running()->config.max_templates)
    return ConfigError{"max_templates", "cannot change while running (restart to resize the table)",
                       ConfigError::Kind::needs_restart};
  // validated() saw the new configuration alone. publish() gives new servers
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
  publish(std::move(valid).take());
  return std::nullopt;
}

EngineConfig Engine::config() const { return current()->config; }

HealthChange Engine::set_server_health(std::string_view service, const IpAddress& address, uint16_t port,
                                       ServerHealth health) {
  MutexLock lock(mutex_);
  const std::shared_ptr<const Snapshot> snap = running();
  const ServiceEntry* s = snap->by_name(service);
  if (!s) return HealthChange::no_such_server;
  const auto e = std::ranges::find_if(
      s->servers, [&](const ServerEntry& r) { return r.config->address == address && r.config->port == port; });
  if (e == s->servers.end()) return HealthChange::no_such_server;
  const uint32_t ref = e->ref;
  const ServerHealth was = runtime_->server_for(ref)->health.exchange(health);
  // Schedulers see up or not: only that rebuilds this service's scheduler.
  if ((was == ServerHealth::up) != (health == ServerHealth::up)) publish(snap->config);
  if (health == ServerHealth::down_expiring)
    table_->remove_if([&](const Template& t) {
      if (t.server_ref != ref) return false;
      log_erased(t);
      return true;
    });
  return was == health ? HealthChange::unchanged : HealthChange::changed;
}

Engine::Decider Engine::make_decider() {
  for (unsigned i = 0; i < kMaxDeciders; ++i) {
    bool expected = false;
    if (slots_used_[i].compare_exchange_strong(expected, true)) return Decider(*this, i);
  }
  throw std::length_error("too many engine workers");
}

std::size_t Engine::expire_step(Seconds now, std::size_t budget) {
  if (!shared_changes_ || !table_->mirror()) return table_->expire_step(now, budget);
  // With template sync and a mirror: the peers hear of a call that only the
  // fast path saw once half its timeout has passed since they last did, as
  // a decider would have told them of its packets, before their copy expires.
  const auto snap = current();
  const TemplateTable::CopyCheckDue due = [&](const Template& t) {
    const ServiceEntry* svc = snap->owner(t.key);
    return svc && now - t.announced >= svc->timeout / 2;
  };
  return table_->expire_step(now, budget, &due);
}

void Engine::set_template_mirror(TemplateMirror* mirror) { table_->set_mirror(mirror); }

std::size_t Engine::template_count() const { return table_->size(); }

}  // namespace sipvs
