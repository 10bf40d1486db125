#pragma once
// Which host a message from a service's VIP came from. In direct routing
// every real server sends from the VIP, so the IP header cannot tell them
// apart; the frame's source link-layer address can: it is the sending host's,
// and the director's neighbour table maps the real servers' own addresses to
// theirs. The engine then picks, among the host's addresses, the one that is
// a server of the service (Engine::Decider::learn).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/ip_address.hpp"
#include "engine/thread_safety.hpp"

namespace sipvsd {

// One entry of the kernel's neighbour table (ARP, NDP) that has a link-layer address.
struct Neighbour {
  sipvs::IpAddress address;
  std::array<uint8_t, 8> lladdr{};
  uint8_t lladdr_len = 0;
};

class SenderMap {
 public:
  SenderMap() = default;
  // From the neighbour entries of the real servers' addresses; the others
  // (routers, clients) are left out: a frame from them is no server's.
  SenderMap(const std::vector<Neighbour>& neighbours, const std::vector<sipvs::IpAddress>& servers);

  // The real servers' addresses of the host a frame from `lladdr` came from;
  // empty when no real server has that link-layer address (yet).
  std::span<const sipvs::IpAddress> addresses(std::span<const uint8_t> lladdr) const;
  std::size_t hosts() const { return hosts_.size(); }
  friend bool operator==(const SenderMap&, const SenderMap&) = default;

 private:
  struct Host {
    uint64_t lladdr;  // key(): the bytes, and the length of a shorter one
    uint32_t first, count;  // into addresses_
    friend bool operator==(const Host&, const Host&) = default;
  };
  static std::optional<uint64_t> key(std::span<const uint8_t> lladdr);
  std::vector<Host> hosts_;  // sorted by lladdr
  std::vector<sipvs::IpAddress> addresses_;
};

// The current SenderMap: housekeeping publishes a new one when the neighbour
// table or the servers change; each queue worker takes it up between
// batches, as it does the engine's snapshot, so no packet takes a lock.
class SenderMaps {
 public:
  SenderMaps() : current_(std::make_shared<const SenderMap>()) {}
  // Publishes `map` unless it equals the current one; true if it did.
  bool publish(SenderMap map);

  class View {
   public:
    explicit View(const SenderMaps& maps) : maps_(&maps) { refresh(); }
    void refresh();  // between batches
    const SenderMap& get() const { return *map_; }

   private:
    const SenderMaps* maps_;
    uint64_t generation_ = 0;
    std::shared_ptr<const SenderMap> map_;
  };

 private:
  mutable sipvs::Mutex mutex_;
  std::shared_ptr<const SenderMap> current_ SIPVS_GUARDED_BY(mutex_);
  std::atomic<uint64_t> generation_{1};
};

}  // namespace sipvsd
