#pragma once
// Internal to the engine: one published configuration, ready for the data
// path (services found by VIP or fwmark, their persistence engines and
// schedulers, servers by slot). Immutable once published; workers hold it
// until their next refresh().
#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/engine_config.hpp"
#include "engine/engine_runtime.hpp"
#include "engine/parse/packet_view.hpp"
#include "engine/pe/persistence_engine.hpp"
#include "engine/scheduler/scheduler.hpp"
#include "engine/template_table.hpp"

namespace sipvs {

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

  bool keeps_templates() const { return persistent || per_flow; }
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
    return by_address(p.dst, p.dport, p.protocol);
  }

  // The service whose VIP and port a packet comes from: a real server's
  // message out, in direct routing (fwmark services have no address to match).
  const ServiceEntry* find_by_source(const PacketView& p) const { return by_address(p.src, p.sport, p.protocol); }

  const ServiceEntry* by_address(const IpAddress& vip, uint16_t port, uint8_t protocol) const {
    auto it = by_vip.find(vip_hash(vip, port));
    if (it == by_vip.end()) return nullptr;
    for (std::size_t i : it->second) {
      const ServiceConfig& c = *services[i].config;
      if (c.vip == vip && c.port == port && c.protocol == protocol) return &services[i];
    }
    return nullptr;
  }

  // A service as another director names it: a fwmark, or protocol, VIP and port.
  const ServiceEntry* by_identity(uint8_t protocol, const IpAddress& vip, uint16_t port, uint32_t fwmark) const {
    if (fwmark == 0) return by_address(vip, port, protocol);
    const auto it = by_fwmark.find(fwmark);
    return it == by_fwmark.end() ? nullptr : &services[it->second];
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

// A template as the control plane shows it: service and server by name and
// identity (either may be gone: null). In engine_templates.cpp.
TemplateInfo describe_template(const TemplateKey& key, std::string_view pe, Seconds expires, TemplateOrigin origin,
                               const ServiceEntry* svc, const ServerEntry* server, Seconds now);

// The template key of `service` for a client (and its port, for per-flow
// entries) and pe data.
inline TemplateKey make_key(const ServiceEntry& s, const IpAddress& client, uint16_t client_port,
                            std::string_view pe_data) {
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

}  // namespace sipvs
