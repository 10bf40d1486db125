#pragma once
// The API's routes, one file per resource family; make_router() puts them
// all in one Router (the table that api/openapi.yaml documents).
#include <functional>
#include <string>
#include <vector>

#include "control_plane.hpp"
#include "daemon.hpp"
#include "rates.hpp"
#include "router.hpp"

namespace sipvsd::api {

// The daemon's per-queue counters; empty when there are no queues (tests).
using QueueStatsSource = std::function<std::vector<QueueStats>()>;

void add_service_routes(Router& router, ControlPlane& control);
void add_template_routes(Router& router, ControlPlane& control);
void add_stats_routes(Router& router, ControlPlane& control, const Rates& rates, QueueStatsSource queue_stats);
void add_config_routes(Router& router, ControlPlane& control);

Router make_router(ControlPlane& control, const Rates& rates, QueueStatsSource queue_stats, std::string token);

}  // namespace sipvsd::api
