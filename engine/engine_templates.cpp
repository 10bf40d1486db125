// Listing, flushing and restoring templates: the control plane's view of
// the table, by service and server identity rather than by slot.
#include <algorithm>

#include "engine/engine.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/snapshot.hpp"

namespace sipvs {

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

TemplateInfo describe_template(const TemplateKey& key, std::string_view pe, Seconds expires, TemplateOrigin origin,
                               const ServiceEntry* svc, const ServerEntry* server, Seconds now) {
  TemplateInfo i;
  if (svc) i.service = svc->config->name;
  i.protocol = key.protocol;
  i.client.family = static_cast<IpAddress::Family>(key.client_family);
  std::copy(key.client, key.client + 16, i.client.bytes.begin());
  i.client_port = key.cport;
  i.vip.family = static_cast<IpAddress::Family>(key.vaddr_family);
  std::copy(key.vaddr, key.vaddr + 16, i.vip.bytes.begin());
  i.vport = key.vport;
  i.fwmark = key.fwmark;
  if (server) {
    i.server = server->config->address;
    i.server_port = server->config->port;
    i.mark = server->config->mark;
  }
  if (key.pe_len) {
    i.pe_data = std::string(pe);
    i.pe_name = svc && svc->pe ? std::string(svc->pe->name()) : "";
    i.pe_shown = svc && svc->pe ? svc->pe->show_pe_data(pe) : i.pe_data;
  }
  i.expires_in = expires - now;
  i.learned = origin == TemplateOrigin::learned;
  return i;
}

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
  for (const auto& [t, svc, server] : found)
    out.push_back(describe_template(t.key, t.pe(), t.expires, t.origin, svc, server, now));
  return out;
}

std::size_t Engine::flush_templates(const TemplateFilter& filter) {
  auto snap = current();
  return table_->remove_if([&](const Template& t) {
    const ServiceEntry* svc = snap->owner(t.key);
    if (!matches(filter, svc, svc ? snap->server(*svc, t.server_ref) : nullptr, t)) return false;
    log_erased(t);
    return true;
  });
}

std::string_view to_string(Restored r) {
  switch (r) {
    case Restored::yes: return "restored";
    case Restored::service_gone: return "service gone";
    case Restored::server_gone: return "server gone";
    case Restored::unusable: return "unusable";
    case Restored::not_stored: return "table full or call present";
  }
  return "?";
}

Restored Engine::restore_template(const TemplateInfo& info, Seconds now) {
  auto snap = current();
  const ServiceEntry* svc = snap->by_name(info.service);
  if (!svc) return Restored::service_gone;
  if (info.expires_in == 0 || info.pe_data.size() > kMaxSipValue || (!info.pe_data.empty() && !svc->pe))
    return Restored::unusable;
  const ServerEntry* server = nullptr;
  for (const ServerEntry& s : svc->servers)
    if (s.config->address == info.server && s.config->port == info.server_port) server = &s;
  if (!server) return Restored::server_gone;
  const TemplateKey key = make_key(*svc, info.client, info.client_port, info.pe_data);
  const TemplateOrigin origin = info.learned ? TemplateOrigin::learned : TemplateOrigin::scheduled;
  const bool stored = table_->insert(key, table_->hash(key, svc->pe.get(), info.pe_data), info.pe_data,
                                     server->ref, origin, now + std::min(info.expires_in, svc->timeout));
  return stored ? Restored::yes : Restored::not_stored;
}

}  // namespace sipvs
