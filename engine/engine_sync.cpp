// The table's side of template sync between directors: the change log the
// deciders and the control plane write and the sync thread drains, and the
// installing of what the peers send, by service and server identity.
#include <algorithm>
#include <stdexcept>

#include "engine/change_log.hpp"
#include "engine/engine.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/snapshot.hpp"

namespace sipvs {

namespace {

// The changes no decider makes between two drains: what the control plane
// erases at once (a flush of every template, a server removed: beyond it the
// peers keep those until they expire), and the templates kept by their copy.
constexpr std::size_t kSharedRing = 64 * 1024;

}  // namespace

std::string_view to_string(Installed i) {
  switch (i) {
    case Installed::stored: return "stored";
    case Installed::kept_local: return "kept_local";
    case Installed::erased: return "erased";
    case Installed::absent: return "absent";
    case Installed::service_gone: return "service_gone";
    case Installed::server_gone: return "server_gone";
    case Installed::unusable: return "unusable";
    case Installed::not_stored: return "not_stored";
  }
  return "unknown";
}

void Engine::enable_change_log(std::size_t per_decider) {
  if (std::ranges::any_of(slots_used_, [](const std::atomic<bool>& used) { return used.load(); }))
    throw std::logic_error("enable_change_log after make_decider");
  for (auto& ring : decider_changes_) ring = std::make_unique<ChangeRing>(per_decider);
  MutexLock lock(shared_changes_mutex_);
  shared_changes_ = std::make_unique<ChangeRing>(kSharedRing);
}

void Engine::log_erased(const Template& t) {
  MutexLock lock(shared_changes_mutex_);
  if (shared_changes_) shared_changes_->push(t, true);
}

// The fast path placed packets of t's call that the engine never saw: the
// peers hear of it as a decider would have told them of those packets,
// before their copy expires.
void Engine::log_kept(Template& t, Seconds now) {
  if (!shared_changes_) return;  // no sync; set before the first decider, never after
  MutexLock lock(shared_changes_mutex_);
  if (shared_changes_->push(t, false)) t.announced = now;
}

std::size_t Engine::drain_changes(std::vector<TemplateChangeInfo>& out, std::size_t max, Seconds now) {
  const auto snap = current();
  const auto describe = [&](const TemplateChange& c) {
    const ServiceEntry* svc = snap->owner(c.key);
    const ServerEntry* server = svc && !c.erased ? snap->server(*svc, c.server_ref) : nullptr;
    if (!svc || (!c.erased && !server)) return;  // gone since: the peers drop it with the configuration
    out.push_back({c.erased, describe_template(c.key, c.pe(), c.expires, c.origin, svc, server, now)});
  };
  std::size_t n = 0;
  // The consumer side needs no lock: shared_changes_mutex_ orders the producers.
  if (ChangeRing* shared = shared_changes_.get()) n += shared->drain(describe, max);
  for (const auto& ring : decider_changes_)
    if (ring && n < max) n += ring->drain(describe, max - n);
  return n;
}

Installed Engine::install_change(const TemplateChangeInfo& change, Seconds now) {
  const auto snap = current();
  const TemplateInfo& i = change.info;
  const ServiceEntry* svc = snap->by_identity(i.protocol, i.vip, i.vport, i.fwmark);
  if (!svc) return Installed::service_gone;
  if (!i.pe_data.empty() && (!svc->pe || svc->pe->name() != i.pe_name)) return Installed::unusable;
  if (i.pe_data.size() > kMaxSipValue || i.client.family == IpAddress::Family::none) return Installed::unusable;
  const TemplateKey key = make_key(*svc, i.client, i.client_port, i.pe_data);
  TemplateTable::Bucket bucket =
      table_->bucket(key, table_->hash(key, svc->pe.get(), i.pe_data), svc->pe.get(), i.pe_data);
  Template* t = bucket.find(now);
  if (change.erased) {
    if (!t) return Installed::absent;
    bucket.erase(*t);
    return Installed::erased;
  }
  if (i.expires_in == 0) return Installed::unusable;
  const uint16_t port = i.server_port != 0 ? i.server_port : svc->config->port;
  const auto server = std::ranges::find_if(svc->servers, [&](const ServerEntry& e) {
    return e.config->address == i.server && server_port(*svc->config, *e.config) == port;
  });
  // A server at its max_calls takes it all the same: the call is in
  // progress there already, placed by a peer, and stays whole. So a peer's
  // calls can push its live templates above max_calls.
  if (server == svc->servers.end() || runtime_->fit(server->ref, true) == ServerFit::gone)
    return Installed::server_gone;
  const Seconds expires = now + std::min(i.expires_in, svc->timeout);
  const TemplateOrigin origin = i.learned ? TemplateOrigin::learned : TemplateOrigin::scheduled;
  if (t) {
    if (static_cast<int32_t>(t->expires - expires) >= 0) return Installed::kept_local;
    if (t->server_ref != server->ref) bucket.rebind(*t, server->ref, origin);
    t->expires = expires;
  } else {
    if (bucket.full(now)) return Installed::not_stored;
    t = &bucket.insert(server->ref, origin, expires, now);
  }
  t->announced = now;  // the peers know it: not told back
  if (TemplateMirror* mirror = table_->mirror()) mirror->stored(*t, *svc->config, *server->config);
  return Installed::stored;
}

void Engine::walk_templates(WalkCursor& cursor, std::size_t buckets, std::vector<TemplateChangeInfo>& out,
                            Seconds now) const {
  const auto snap = current();
  TemplateTable::Cursor at{cursor.shard, cursor.bucket};
  // Copied under the shard's lock, described after it (as templates() does).
  std::vector<Template> found;
  table_->for_some(at, buckets, [&](const Template& t) {
    if (!expired(t, now)) found.push_back(t);
  });
  cursor = {at.shard, at.bucket};
  for (const Template& t : found) {
    const ServiceEntry* svc = snap->owner(t.key);
    const ServerEntry* server = svc ? snap->server(*svc, t.server_ref) : nullptr;
    if (server) out.push_back({false, describe_template(t.key, t.pe(), t.expires, t.origin, svc, server, now)});
  }
}

}  // namespace sipvs
