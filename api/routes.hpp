#pragma once
// The API's routes, one file per resource family; make_router() puts them
// all in one Router (the table that api/openapi.yaml documents).
#include <functional>
#include <string>
#include <vector>

#include "daemon/config/control_plane.hpp"
#include "daemon/daemon.hpp"
#include "daemon/health/health_check.hpp"
#include "api/rates.hpp"
#include "api/router.hpp"

namespace sipvsd::api {

// What the routes read from the running daemon besides the control plane;
// either may be unset (tests, a daemon without queues or checks).
struct DaemonReadouts {
  std::function<std::vector<QueueStats>()> queue_stats;
  std::function<std::vector<HealthStatus>()> health;  // checked servers only
  std::function<std::optional<SyncStatus>()> sync;    // none: sync is off
  std::function<std::optional<FastPathStats>()> fast_path;  // none: the fast path is off
};

void add_service_routes(Router& router, ControlPlane& control);
void add_server_routes(Router& router, ControlPlane& control);
void add_template_routes(Router& router, ControlPlane& control);
void add_stats_routes(Router& router, ControlPlane& control, const Rates& rates, DaemonReadouts readouts);
void add_config_routes(Router& router, ControlPlane& control);

Router make_router(ControlPlane& control, const Rates& rates, DaemonReadouts readouts, std::string token);

}  // namespace sipvsd::api
