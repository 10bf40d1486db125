#pragma once
// Health agreement among directors (docs/health-checks.md): whether a real
// server this director health-checks takes new calls, told to the engine
// (Engine::set_server_health). With sync.server_health "local", from this
// director's own probes alone. With "shared", from those and its live
// peers' views (the servers their alives say their own probes see down): a
// server is down when any of them sees it down, up again only when all of
// them see it up, so that the directors take a failing server out, and
// bring it back, together. A server this director does not check takes no
// part: what peers say of it changes nothing.
//
// Servers are known to the peers by identity (sync/server_identity.hpp),
// to the engine and the health checker by service name, address and port.
//
// Threads: the health checker reports its local view (checked, local_view)
// with its Impl::mutex held; the sync thread gives its peers' views
// (peer_view, forget_peer) and takes the local view to announce
// (local_down); the API handlers read (peers_seeing_down). Lock order:
// HealthChecker::Impl::mutex → mutex_ → Engine::mutex_.
#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/sync_config.hpp"
#include "engine/engine.hpp"
#include "engine/thread_safety.hpp"
#include "sync/server_identity.hpp"

namespace sipvsd {

class ServerHealthAgreement {
 public:
  // A server the health checker probes, and what its probes say of it.
  struct CheckedServer {
    std::string service;  // the engine's name of it: service, address and port as configured
    sipvs::IpAddress address;
    uint16_t port = 0;
    sipvs::sync::ServerIdentity identity;  // the peers' name of it
    sipvs::ServerHealth when_down = sipvs::ServerHealth::down;  // on_down keep, or down_expiring (expire)
    bool down = false;
  };

  ServerHealthAgreement(sipvs::Engine& engine, ServerHealthMode mode) : engine_(engine), shared_(mode == ServerHealthMode::shared) {}
  ServerHealthAgreement(const ServerHealthAgreement&) = delete;
  ServerHealthAgreement& operator=(const ServerHealthAgreement&) = delete;

  bool shared() const { return shared_; }

  // The health checker's, on each configuration: the servers it checks now.
  // One that is no longer among them leaves the agreement, up if it was down.
  void checked(std::vector<CheckedServer> servers) SIPVS_EXCLUDES(mutex_);
  // The health checker's: its probes now see the server down, or up.
  void local_view(std::string_view service, const sipvs::IpAddress& address, uint16_t port, bool down)
      SIPVS_EXCLUDES(mutex_);

  // The sync thread's: the servers a live peer's own probes see down, as its
  // last alive said.
  void peer_view(uint64_t node, std::span<const sipvs::sync::ServerIdentity> down) SIPVS_EXCLUDES(mutex_);
  // The sync thread's: the peer went silent; its view no longer counts.
  void forget_peer(uint64_t node) SIPVS_EXCLUDES(mutex_);
  // The sync thread's: the servers this director's probes see down, in
  // identity order, to announce; and a count that changes whenever they do.
  std::vector<sipvs::sync::ServerIdentity> local_down() const SIPVS_EXCLUDES(mutex_);
  uint64_t local_changes() const { return local_changes_.load(); }

  // The API's: the live peers that see a server down (none when local).
  std::vector<uint64_t> peers_seeing_down(std::string_view service, const sipvs::IpAddress& address,
                                          uint16_t port) const SIPVS_EXCLUDES(mutex_);

 private:
  struct Entry {
    CheckedServer server;
    bool down = false;  // as the engine has it
  };
  Entry* find(std::string_view service, const sipvs::IpAddress& address, uint16_t port) SIPVS_REQUIRES(mutex_);
  std::vector<uint64_t> seeing_down(const Entry& e) const SIPVS_REQUIRES(mutex_);
  void settle(Entry& e, std::string_view cause) SIPVS_REQUIRES(mutex_);
  void settle_all(std::string_view cause) SIPVS_REQUIRES(mutex_);
  void release(const Entry& e) SIPVS_REQUIRES(mutex_);
  std::vector<sipvs::sync::ServerIdentity> local_down_locked() const SIPVS_REQUIRES(mutex_);

  sipvs::Engine& engine_;
  const bool shared_;
  mutable sipvs::Mutex mutex_;
  std::vector<Entry> entries_ SIPVS_GUARDED_BY(mutex_);
  // Shared only: each live peer's view, by node id.
  std::map<uint64_t, std::set<sipvs::sync::ServerIdentity>> peers_ SIPVS_GUARDED_BY(mutex_);
  std::atomic<uint64_t> local_changes_{0};
};

}  // namespace sipvsd
