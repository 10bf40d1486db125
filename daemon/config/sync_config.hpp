#pragma once
// The configuration's "sync" object: template sync with the other directors
// (docs/high-availability.md). Absent or without "listen": sync is off.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sipvsd {

// A multicast group all the cluster's directors send to and receive on, as
// IPVS's sync daemon does (224.0.0.81): peers need not be listed, and each
// datagram is sent once whatever their number.
struct SyncMulticast {
  std::string group;      // a multicast address of listen's family; the port is listen's
  std::string interface;  // the interface it is joined on and sent from
  uint8_t ttl = 1;        // hops (IPv6: hop limit); 1 keeps it on the link

  bool enabled() const { return !group.empty(); }
  friend bool operator==(const SyncMulticast&, const SyncMulticast&) = default;
};

// Whose health checks take a real server out (docs/health-checks.md).
enum class ServerHealthMode : uint8_t {
  shared,  // down when this director or any live peer sees it down, up when all see it up
  local,   // this director's own checks alone
};
std::string_view to_string(ServerHealthMode m);

struct SyncConfig {
  std::string listen;               // "ip:port" this director receives on; empty: sync off
  std::vector<std::string> peers;   // "ip:port" of each other director, of listen's family
  SyncMulticast multicast;          // and/or a group (peers then optional)
  uint64_t node_id = 0;             // this director's, unique in the cluster, nonzero
  uint16_t sync_id = 0;             // the cluster's: directors with another one are ignored
  std::string key_file;             // the shared key (sync/authenticator.hpp), mode 0600
  uint32_t change_log = 65536;      // per queue: changes logged and not yet sent
  ServerHealthMode server_health = ServerHealthMode::shared;

  bool enabled() const { return !listen.empty(); }
  friend bool operator==(const SyncConfig&, const SyncConfig&) = default;
};

// `field` names the object in errors ("sync"). Throws ConfigFieldError.
SyncConfig sync_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json sync_to_json(const SyncConfig& s);

// A sync that is on has a node id, a key file, and peers it can reach from
// its listen address (same family, not itself) or a multicast group of that
// family. Throws ConfigFieldError.
void check_sync(const SyncConfig& s);

}  // namespace sipvsd
