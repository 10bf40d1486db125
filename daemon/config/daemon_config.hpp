#pragma once
// The daemon's configuration: the engine's services and limits plus the
// daemon's own settings (queues, mark mask, policy for unplaced packets,
// forwarding, API, health checks). config_json.hpp reads and writes it,
// daemon_checks.hpp checks it as a whole.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_config.hpp"
#include "daemon/config/api_config.hpp"
#include "daemon/config/fast_path_config.hpp"
#include "daemon/config/forwarding_config.hpp"
#include "daemon/config/sync_config.hpp"
#include "daemon/health/health_check_config.hpp"

namespace sipvsd {

struct DaemonConfig {
  sipvs::EngineConfig engine;
  std::vector<uint16_t> queues{0};  // NFQUEUE numbers, ascending, one worker each
  uint32_t queue_maxlen = 8192;     // NFQA_CFG_QUEUE_MAXLEN (the kernel's default 1024 overflows)
  uint32_t mark_mask = 0xffffffff;  // bits of the packet mark that sipvsd owns
  enum class Unplaced { accept, drop } unplaced = Unplaced::accept;
  unsigned debug_level = 0;         // 0..10; 9+ logs every packet's decision
  std::string state_file;
  // Seconds between writes of the templates file (<state_file>.templates);
  // 0: only at stop. Calls begun since the last write lose their server
  // after a crash.
  uint32_t templates_save_interval = 10;
  ApiConfig api;
  ForwardingKind forwarding = ForwardingKind::none;
  ForwardingOptions forwarding_options;
  // SIP OPTIONS probing, from the "health_check" keys of services and servers
  // (health_check.hpp): kept beside the engine's services, which know nothing of it.
  HealthChecks health_checks;
  SyncConfig sync;  // template sync with the other directors; off unless sync.listen is set
  FastPathConfig fast_path;  // the eBPF fast path for calls sipvsd knows; off unless set
  friend bool operator==(const DaemonConfig&, const DaemonConfig&) = default;
};

inline constexpr unsigned kMaxDebugLevel = 10;
inline constexpr std::size_t kMaxQueues = 32;  // one engine worker per queue (sipvs::kMaxDeciders)

// "0x0000ffff": how marks are written in the configuration and in messages
// (json_fields::get_mark reads it back).
std::string mark_to_string(uint32_t mark);

// "accept", "drop".
std::string_view to_string(DaemonConfig::Unplaced u);
std::optional<DaemonConfig::Unplaced> unplaced_from_string(std::string_view text);  // nullopt if unknown

}  // namespace sipvsd
