#pragma once
// Internal to the engine: what outlives configuration snapshots (per-server
// health and live counts, the counters, which slot each server and service
// holds) and the handles templates use to name servers.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/call_limits.hpp"
#include "engine/engine.hpp"
#include "engine/template_table.hpp"

namespace sipvs {

// Each worker writes only its own slot, so a relaxed load+store is enough and
// no two threads write one cache line; readers add the slots up.
using Counter = std::atomic<uint64_t>;
inline void bump(Counter& c, uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
inline uint64_t read(const Counter& c) { return c.load(std::memory_order_relaxed); }

struct alignas(64) ServerSlotCounters {
  Counter packets, bytes, created, fallbacks;
  Counter outgoing, learned;  // messages it sent out; templates they (or tags) created or moved to it
  Counter tagged;             // messages that named it with a tag
};

struct alignas(64) ServiceSlotCounters {
  Counter packets, bytes, created, fallbacks, no_server, servers_full, table_full, rate_limited;
  std::array<Counter, kPeStatusCount> by_reason;
  Counter outgoing, learned, unknown_sender;
  Counter tagged, unknown_tag;
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

// What a template may do with its real server, asked for every template a
// packet finds or is about to create.
enum class ServerFit : uint8_t {
  gone,  // removed, or down with its templates expiring: its calls are rescheduled
  keep,  // keeps its templates, takes no new ones (down, its templates kept)
  take,  // keeps its templates and takes new ones
};

struct Engine::Runtime final : TemplateListener {
  explicit Runtime(Engine& e) : engine(e) {}
  Engine& engine;
  struct Server {
    std::atomic<uint32_t> generation{0};
    std::atomic<int64_t> live{0};
    // Read live by every lookup, whatever snapshot the worker holds.
    std::atomic<ServerHealth> health{ServerHealth::up};
    // Its CallLimits, packed; and whether they hold it overloaded
    // (IP_VS_DEST_F_OVERLOAD): schedulers read the flag at every pick.
    std::atomic<uint64_t> limits{0};
    std::atomic<bool> overloaded{false};
    std::array<ServerSlotCounters, kMaxDeciders> counters;

    // After a bind or a release. Binds and releases in other shards race
    // this one: whoever changes the flag reads the live count again, so the
    // last to change it sees the last count, and no stale flag outlives them
    // (the count and the flag in one order: sequentially consistent, which
    // costs x86 nothing over the locked add the count takes anyway).
    void settle() {
      for (;;) {
        bool was = overloaded.load();
        const bool is = CallLimits::unpacked(limits.load(std::memory_order_relaxed)).overloaded(live.load(), was);
        if (is == was) return;
        overloaded.compare_exchange_weak(was, is);
      }
    }
    // A configuration's limits. As __ip_vs_update_dest, a limit raised or
    // removed ends an overload at once; one lowered below its live
    // templates starts one at once.
    void set_limits(CallLimits next) {
      const CallLimits before = CallLimits::unpacked(limits.exchange(next.packed(), std::memory_order_relaxed));
      if (next.max == 0 || next.max > before.max) overloaded.store(false);
      settle();
    }
  };
  struct Service {
    std::array<ServiceSlotCounters, kMaxDeciders> counters;
  };

  // Slots are allocated once and reused, never freed while the engine lives:
  // workers may still read a slot that a newer snapshot no longer has.
  std::vector<std::unique_ptr<Server>> servers = std::vector<std::unique_ptr<Server>>(kMaxRealServers);
  std::vector<std::unique_ptr<Service>> services = std::vector<std::unique_ptr<Service>>(kMaxServices);
  std::map<std::string, uint32_t> server_slots;   // "service|address|port" -> slot
  std::map<std::string, uint32_t> service_slots;  // service name -> slot
  std::array<GlobalSlotCounters, kMaxDeciders> global;

  Server* server_for(uint32_t ref) const {
    Server* s = servers[ref_slot(ref)].get();
    return s && s->generation.load(std::memory_order_relaxed) == ref_generation(ref) ? s : nullptr;
  }
  void bound(uint32_t ref) override {
    if (Server* s = server_for(ref)) {
      s->live.fetch_add(1);
      s->settle();
    }
  }
  void released(uint32_t ref) override {
    if (Server* s = server_for(ref)) {
      s->live.fetch_sub(1);
      s->settle();
    }
  }
  void kept_by_copy(Template& t, uint32_t now) override { engine.log_kept(t, now); }
  // A worker's snapshot may predate a health change, so its scheduler may
  // still pick a server that went down; the worker asks here, as IPVS's
  // ip_vs_check_template looks at the server itself rather than at the
  // template. `known` says whether the worker's snapshot has the server.
  ServerFit fit(uint32_t ref, bool known) const {
    const Server* s = known ? server_for(ref) : nullptr;
    if (!s) return ServerFit::gone;
    switch (s->health.load(std::memory_order_relaxed)) {
      case ServerHealth::up: return ServerFit::take;
      case ServerHealth::down: return ServerFit::keep;
      case ServerHealth::down_expiring: break;
    }
    return ServerFit::gone;
  }
};

}  // namespace sipvs
