#pragma once
// Template sync with the other directors (docs/sync-protocol.md) on a thread
// of its own (sipvsd-sync), as IPVS's sync daemon, but among equals: every
// 5 ms it sends what this director's table changed (Engine::drain_changes)
// to each configured peer and to the multicast group, if any (where the
// directors it hears from are its peers too), and it installs what they send
// (Engine::install_change). A director that starts, or that misses some of a
// peer's datagrams, asks that peer for its whole table (a bulk resync, paced
// at about 100 000 templates/s); it is "synced" once each peer it hears from
// has sent its table, or when none answers within a few seconds of its
// start (it is alone). A peer that restarts is not asked: it starts empty.
// The data path never waits for it: the deciders' change logs drop when full.
// Each alive also says which servers this director's own health checks see
// down (at once when that changes); the health agreement takes the peers'
// views, and forgets a peer's when it goes silent.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/sync_config.hpp"
#include "daemon/health/server_health_agreement.hpp"
#include "engine/engine.hpp"
#include "sync/authenticator.hpp"
#include "sync/wire.hpp"

namespace sipvsd {

// A peer is alive while heard within the last 3 s; lost once silent longer.
enum class PeerState : uint8_t { unheard, alive, lost };
constexpr std::string_view to_string(PeerState s) {
  switch (s) {
    case PeerState::unheard: return "unheard";
    case PeerState::alive: return "alive";
    case PeerState::lost: return "lost";
  }
  return "unknown";
}

struct SyncPeerStatus {
  std::string address;            // as configured
  uint64_t node = 0;              // 0: not heard from yet
  PeerState state = PeerState::unheard;
  double last_seen_seconds = -1;  // since its last datagram; -1: never
  uint64_t epoch = 0, highest_seq = 0;
  uint64_t lost = 0;              // of its datagrams, by their sequence numbers
  bool table_received = false;    // its bulk resync to this director is complete
  bool synced = false;            // as it says of itself
  uint64_t templates = 0;         // in its table, as it says
  bool config_differs = false;    // its services differ from this director's
  // The servers its health checks see down, as its last alive said while it is alive.
  std::vector<sipvs::sync::ServerIdentity> servers_down;
  bool servers_down_incomplete = false;  // it sees more down than an alive lists
};

struct SyncStatus {
  bool synced = false;
  uint64_t node = 0;
  uint64_t datagrams_sent = 0, records_sent = 0, send_errors = 0;
  uint64_t datagrams_received = 0, records_received = 0, unknown_peer = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;  // UDP payload of the datagrams sent, taken
  std::array<uint64_t, sipvs::sync::kDropReasonCount> dropped{};  // by sync::DropReason
  std::array<uint64_t, sipvs::kInstalledCount> installed{};       // by sipvs::Installed
  uint64_t resyncs_requested = 0, resyncs_served = 0;
  bool server_health_shared = false;  // sync.server_health
  std::vector<SyncPeerStatus> peers;
};

class SyncService {
 public:
  // Binds config.listen and starts the thread; throws std::runtime_error
  // saying why it cannot. The engine's change log must be on
  // (Engine::enable_change_log) and outlive this, as must `health` if given
  // (the peers' views of the servers go there, this director's come from it).
  SyncService(sipvs::Engine& engine, const SyncConfig& config, const sipvs::sync::Authenticator& auth,
              ServerHealthAgreement* health = nullptr);
  ~SyncService();  // stops the thread
  SyncService(const SyncService&) = delete;
  SyncService& operator=(const SyncService&) = delete;

  SyncStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sipvsd
