#pragma once
// The configuration's "sync" object: template sync with the other directors
// (docs/high-availability.md). Absent or without "listen": sync is off.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sipvsd {

struct SyncConfig {
  std::string listen;               // "ip:port" this director receives on; empty: sync off
  std::vector<std::string> peers;   // "ip:port" of each other director, of listen's family
  uint64_t node_id = 0;             // this director's, unique in the cluster, nonzero
  uint16_t sync_id = 0;             // the cluster's: directors with another one are ignored
  std::string key_file;             // the shared key (sync/authenticator.hpp), mode 0600
  uint32_t change_log = 65536;      // per queue: changes logged and not yet sent

  bool enabled() const { return !listen.empty(); }
  friend bool operator==(const SyncConfig&, const SyncConfig&) = default;
};

// `field` names the object in errors ("sync"). Throws ConfigFieldError.
SyncConfig sync_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json sync_to_json(const SyncConfig& s);

// A sync that is on has a node id, a key file and peers it can reach from
// its listen address (same family, not itself). Throws ConfigFieldError.
void check_sync(const SyncConfig& s);

}  // namespace sipvsd
