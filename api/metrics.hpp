#pragma once
// GET /metrics: the engine's and the queues' counters in the Prometheus text
// exposition format 0.0.4, names prefixed "sipvsd_", labelled by service,
// server (its id, see server_id.hpp), queue and reason.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/daemon.hpp"
#include "engine/engine.hpp"

namespace sipvsd::api {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsInput {
  const sipvs::EngineStats& engine;
  const std::vector<QueueStats>& queues;
  unsigned debug_level = 0;
  uint64_t config_changes = 0;
  const SyncStatus* sync = nullptr;  // none: sync is off
  const FastPathStats* fast_path = nullptr;  // none: the fast path is off
};

std::string render_metrics(const MetricsInput& in);

}  // namespace sipvsd::api
