#include "daemon/config/sync_config.hpp"

#include "daemon/config/api_config.hpp"
#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"
#include "engine/ip_address.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

namespace {

constexpr std::size_t kMaxPeers = 32;
constexpr uint32_t kMinChangeLog = 1024;
constexpr uint32_t kMaxChangeLog = 1u << 24;

ListenAddress endpoint(const std::string& text, const std::string& field) {
  const auto at = parse_listen_address(text);
  if (!at || at->port == 0)
    throw ConfigFieldError(field, "\"" + text + "\" is not a numeric ip:port or [ipv6]:port (e.g. 198.18.0.11:8848)");
  return *at;
}

constexpr std::size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1

SyncMulticast multicast_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"group", "interface", "ttl"});
  SyncMulticast m;
  const json* v;
  if ((v = find(j, "group"))) m.group = get_string(*v, sub(field, "group"));
  if ((v = find(j, "interface"))) m.interface = get_string(*v, sub(field, "interface"));
  if ((v = find(j, "ttl"))) {
    m.ttl = static_cast<uint8_t>(get_uint(*v, sub(field, "ttl"), 255));
    if (m.ttl == 0) throw ConfigFieldError(sub(field, "ttl"), "must be between 1 and 255");
  }
  return m;
}

bool is_multicast(const sipvs::IpAddress& a) {
  return a.is_v4() ? (a.bytes[0] & 0xf0) == 0xe0 : a.bytes[0] == 0xff;
}

void check_multicast(const SyncMulticast& m, const ListenAddress& self) {
  const auto group = sipvs::IpAddress::parse(m.group);
  if (!group || !is_multicast(*group))
    throw ConfigFieldError("sync.multicast.group", "\"" + m.group + "\" is not a multicast address (e.g. 239.255.81.81)");
  if (group->family != self.address.family)
    throw ConfigFieldError("sync.multicast.group", m.group + " is not of sync.listen's address family");
  if (m.interface.empty() || m.interface.size() > kMaxInterfaceName)
    throw ConfigFieldError("sync.multicast.interface", "required: the name of the interface to join the group on");
}

ServerHealthMode server_health_from_json(const json& v, const std::string& field) {
  const std::string text = get_string(v, field);
  for (const ServerHealthMode m : {ServerHealthMode::shared, ServerHealthMode::local})
    if (text == to_string(m)) return m;
  throw ConfigFieldError(field, "\"" + text + "\" is not one of shared, local");
}

}  // namespace

std::string_view to_string(ServerHealthMode m) { return m == ServerHealthMode::local ? "local" : "shared"; }

SyncConfig sync_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field,
             {"listen", "peers", "multicast", "node_id", "sync_id", "key_file", "change_log", "server_health"});
  SyncConfig s;
  const json* v;
  if ((v = find(j, "listen"))) s.listen = get_string(*v, sub(field, "listen"));
  if ((v = find(j, "peers"))) {
    check_array(*v, sub(field, "peers"), kMaxPeers, "peers");
    for (std::size_t i = 0; i < v->size(); ++i) s.peers.push_back(get_string((*v)[i], index(sub(field, "peers"), i)));
  }
  if ((v = find(j, "multicast"))) s.multicast = multicast_from_json(*v, sub(field, "multicast"));
  if ((v = find(j, "node_id"))) s.node_id = get_uint(*v, sub(field, "node_id"), UINT64_MAX);
  if ((v = find(j, "sync_id"))) s.sync_id = static_cast<uint16_t>(get_uint(*v, sub(field, "sync_id"), 65535));
  if ((v = find(j, "key_file"))) s.key_file = get_string(*v, sub(field, "key_file"));
  if ((v = find(j, "change_log"))) {
    s.change_log = static_cast<uint32_t>(get_uint(*v, sub(field, "change_log"), kMaxChangeLog));
    if (s.change_log < kMinChangeLog)
      throw ConfigFieldError(sub(field, "change_log"), "must be between " + std::to_string(kMinChangeLog) + " and " +
                                                           std::to_string(kMaxChangeLog));
  }
  if ((v = find(j, "server_health"))) s.server_health = server_health_from_json(*v, sub(field, "server_health"));
  return s;
}

json sync_to_json(const SyncConfig& s) {
  json j{{"listen", s.listen},
         {"peers", s.peers},
         {"node_id", s.node_id},
         {"sync_id", s.sync_id},
         {"key_file", s.key_file},
         {"change_log", s.change_log},
         {"server_health", std::string(to_string(s.server_health))}};
  if (s.multicast.enabled())
    j["multicast"] = {{"group", s.multicast.group}, {"interface", s.multicast.interface}, {"ttl", s.multicast.ttl}};
  return j;
}

void check_sync(const SyncConfig& s) {
  if (!s.enabled()) {
    if (!s.peers.empty() || s.multicast.enabled())
      throw ConfigFieldError("sync.listen", "missing: peers or a multicast group are set, but no address to sync on");
    return;
  }
  const ListenAddress self = endpoint(s.listen, "sync.listen");
  if (s.node_id == 0) throw ConfigFieldError("sync.node_id", "required: a nonzero id unique among the directors");
  if (s.key_file.empty())
    throw ConfigFieldError("sync.key_file", "required: sync datagrams are authenticated with a shared key "
                                            "(64 hex digits: openssl rand -hex 32)");
  if (s.multicast.enabled()) check_multicast(s.multicast, self);
  if (s.peers.empty() && !s.multicast.enabled())
    throw ConfigFieldError("sync.peers", "required: the other directors' ip:port, or a multicast group");
  for (std::size_t i = 0; i < s.peers.size(); ++i) {
    const std::string field = "sync.peers[" + std::to_string(i) + "]";
    const ListenAddress peer = endpoint(s.peers[i], field);
    if (peer.address.family != self.address.family)
      throw ConfigFieldError(field, s.peers[i] + " is not of sync.listen's address family");
    if (peer.address == self.address && peer.port == self.port)
      throw ConfigFieldError(field, s.peers[i] + " is this director's own sync.listen");
  }
}

}  // namespace sipvsd
