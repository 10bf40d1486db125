#pragma once
// SIP OPTIONS health checks of the real servers, run by the director itself.
//
// One thread probes every checked real server: an OPTIONS request per
// interval to the server's own address and port (not the VIP), each with a
// fresh Call-ID, branch (z9hG4bK...) and CSeq. A reply counts when all three
// match the outstanding probe; anything else on the socket is ignored. After
// `failures` consecutive failed probes (no final reply within timeout_ms, or
// a code not in `codes`) the server is down for this director's probes, and
// the health agreement (server_health_agreement.hpp) marks it down in the
// engine, alone or with its peers' views: it gets no new calls, and with
// on_down "expire" its templates go so that calls in progress move. After
// `successes` consecutive good probes it is up again. Each change is logged
// on one line.
//
// The probes leave the director's own network stack straight for the real
// server's address: they are not addressed to a VIP, so the NFQUEUE rule does
// not see them and sipvsd never places its own probes.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config/daemon_config.hpp"
#include "daemon/health/server_health_agreement.hpp"
#include "engine/engine.hpp"

namespace sipvsd {

struct HealthStatus {
  std::string service;
  sipvs::IpAddress address;
  uint16_t port = 0;  // as configured (0 = the service's port)
  bool up = true;     // servers start up, as the engine has them
  // "" before the first probe; else "200" (a code), "timeout" or "error".
  std::string last_result;
  std::time_t last_probe = 0;   // wall clock of the last result
  double last_rtt_ms = 0;       // of the last answered probe
  std::time_t last_change = 0;  // wall clock of the last up/down change (0: none yet)
  uint32_t consecutive_failures = 0, consecutive_successes = 0;
  // A shared health agreement's: the live peers that see it down (Daemon::health_statuses).
  std::optional<std::vector<uint64_t>> seen_down_by;
};

class HealthChecker {
 public:
  // Tells `agreement` what its probes see; it must outlive this.
  explicit HealthChecker(ServerHealthAgreement& agreement);
  ~HealthChecker();  // stops
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Takes the checks of `config` (services and servers that exist in it);
  // servers that stay keep their state, servers no longer checked are marked
  // up. Starts the thread on first use. Never throws for a socket problem:
  // it is logged and the probes of that family fail (servers go down).
  void configure(const DaemonConfig& config);
  void stop();

  std::vector<HealthStatus> statuses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The status of one real server in `statuses`, if it is checked.
const HealthStatus* find_status(const std::vector<HealthStatus>& statuses, std::string_view service,
                                const sipvs::IpAddress& address, uint16_t port);

}  // namespace sipvsd
