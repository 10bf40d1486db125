#pragma once
// One template as directors tell each other of it (docs/sync-protocol.md):
// the service and the real server by identity, never by local slot or mark,
// so that directors that list them in another order still agree.
#include <cstdint>
#include <string>

#include "engine/ip_address.hpp"

namespace sipvs::sync {

enum class RecordOp : uint8_t {
  set = 1,    // a template is new, moved to another server, or refreshed
  erase = 2,  // flushed, its server removed, or its server down with on_down expire
};

struct SyncRecord {
  RecordOp op = RecordOp::set;
  bool learned = false;  // bound by what a real server said (sent or tagged), not by a scheduler
  // The service: protocol, VIP and port, or a fwmark (no VIP, port 0).
  uint8_t protocol = 17;
  IpAddress vip;
  uint16_t vport = 0;
  uint32_t fwmark = 0;
  IpAddress client;          // under the sender's persistence mask
  uint16_t client_port = 0;  // per-flow entries only
  IpAddress server;          // none in an erasure: the call's template goes, whichever server it named
  uint16_t server_port = 0;  // 0: the service's port
  uint32_t timeout = 0;      // seconds left (set); 0 (erase)
  std::string pe_name;       // empty: a template without pe data
  std::string pe_data;       // raw bytes, e.g. the Call-ID
  friend bool operator==(const SyncRecord&, const SyncRecord&) = default;
};

}  // namespace sipvs::sync
