#pragma once
// SIP OPTIONS health checks: what the configuration says (health_check_json.hpp
// parses it; health_check.hpp runs it). Kept apart from the engine's types:
// the engine only learns a server's health (Engine::set_server_health).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/ip_address.hpp"

namespace sipvsd {

struct HealthCheckConfig {
  uint32_t interval_ms = 1000;  // one probe per interval
  uint32_t timeout_ms = 500;    // a probe unanswered this long is a failure; <= interval_ms
  uint32_t failures = 3;        // consecutive failures before down
  uint32_t successes = 2;       // consecutive successes before up again
  std::vector<uint16_t> codes;  // accepted final codes; empty = any final response (>= 200)
  std::string local_address;    // source address of the probes; empty = the kernel's choice
  uint16_t local_port = 0;      // source port; 0 = ephemeral
  enum class OnDown { keep, expire } on_down = OnDown::keep;  // expire: drop templates, calls move
  friend bool operator==(const HealthCheckConfig&, const HealthCheckConfig&) = default;
};

// One real server's own check, replacing its service's.
struct ServerHealthCheck {
  sipvs::IpAddress address;
  uint16_t port = 0;  // as configured (0 = the service's port)
  HealthCheckConfig check;
  friend bool operator==(const ServerHealthCheck&, const ServerHealthCheck&) = default;
};

// The checks of one service: `service` applies to every server without its
// own entry in `servers`; with neither, the service is not checked.
struct ServiceHealthChecks {
  bool enabled = false;  // the service has a service-level "health_check"
  HealthCheckConfig service;
  std::vector<ServerHealthCheck> servers;
  friend bool operator==(const ServiceHealthChecks&, const ServiceHealthChecks&) = default;
};

// By service name. Entries whose service (or server) no longer exists are ignored.
using HealthChecks = std::map<std::string, ServiceHealthChecks>;

std::string_view to_string(HealthCheckConfig::OnDown d);

}  // namespace sipvsd
