#pragma once
// What an operator configures: virtual services with their real servers, and
// the engine's limits. Plain values; validate() says what is wrong and where.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/ip_address.hpp"

namespace sipvs {

// How the kernel forwards to a real server (ipvsadm -g / -i / -m). The engine
// does not use it; the daemon's forwarding back-ends do.
enum class Forward : uint8_t { dr, tun, masq };

// ipvsadm's range: a weight is at most 65535.
inline constexpr uint32_t kMaxWeight = 65535;
// A server's tag: 1 to 32 SIP token characters.
inline constexpr std::size_t kMaxServerTag = 32;
// A server's max_calls and min_calls: far beyond any template table.
inline constexpr uint32_t kMaxCalls = 1'000'000'000;

struct RealServerConfig {
  IpAddress address;
  uint16_t port = 0;    // 0 = the service's port (direct routing keeps the port)
  uint32_t weight = 1;  // 0..kMaxWeight; 0 quiesces
  uint32_t mark = 0;    // the packet mark that sends traffic to this server; nonzero, unique
  Forward forward = Forward::dr;
  // What names this server in the messages it sends, for a `sip-tag` service
  // (e.g. "s2" in ";sipvsd=s2"); empty: none. Unique within its service.
  std::string tag;
  // Its calls in progress (live templates) at which it gets no new calls,
  // as ipvsadm -x; 0: no limit. It gets them again below min_calls (-y;
  // 0: 3/4 of max_calls). Calls in progress stay on it either way.
  uint32_t max_calls = 0;  // 0..kMaxCalls
  uint32_t min_calls = 0;  // 0..max_calls; only with max_calls
  friend bool operator==(const RealServerConfig&, const RealServerConfig&) = default;
};

struct ServiceConfig {
  std::string name;  // unique id, used by the API and in listings
  // Either protocol + VIP + port, or a fwmark (then vip and port stay unset).
  uint8_t protocol = 17;  // UDP
  IpAddress vip;
  uint16_t port = 0;
  uint32_t fwmark = 0;
  std::string scheduler = "wlc";        // ipvsadm's default
  uint32_t persistence_timeout = 0;     // seconds; 0 = not persistent
  std::optional<unsigned> netmask;      // persistence prefix; default: full address
  bool one_packet = false;              // -o: no per-flow entries, every packet scheduled
  std::string pe;                       // persistence engine name, empty = none
  std::string pe_param;                 // the PE's option (sip-header: the header name)
  std::vector<RealServerConfig> servers;

  bool is_fwmark() const { return fwmark != 0; }
  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

// The port that, with its address, identifies a real server within its
// service: its own, or for port 0 the service's, as ipvsadm -a fills it in
// (so "198.18.1.10" and "198.18.1.10:5060" of a port-5060 service are one
// server). A fwmark service has no port: there 0 stays 0.
inline uint16_t server_port(const ServiceConfig& service, const RealServerConfig& server) {
  return server.port != 0 ? server.port : service.port;
}

struct EngineConfig {
  std::vector<ServiceConfig> services;
  uint64_t max_templates = 1'000'000;  // hard cap on the template table
  uint32_t udp_timeout = 300;          // seconds a per-flow entry of a non-persistent service lives
  // New templates one client address may create per second; beyond it new
  // sessions are still scheduled, without a template. 0 = no limit.
  uint32_t max_new_templates_per_source = 0;
  // What makes one source for that limit: the client address's first bits,
  // a host for IPv4, a /64 (one site or host, RFC 6177) for IPv6.
  unsigned per_source_prefix_v4 = 32;  // 0..32
  unsigned per_source_prefix_v6 = 64;  // 0..128
  // Not the engine's: published in the same snapshot as the rest, so that a
  // worker reads the caller's data that belongs with this configuration (the
  // daemon's mark mask goes with the marks it hands out). Not validated.
  uint64_t caller_data = 0;
  friend bool operator==(const EngineConfig&, const EngineConfig&) = default;
};

// What one engine holds: each service and real server (over all services)
// has a fixed slot for its counters and health (engine.cpp); a server's slot
// is the low 16 bits of its templates' server reference.
inline constexpr std::size_t kMaxServices = 1024;
inline constexpr std::size_t kMaxRealServers = 4096;

// ipvsadm's default persistence timeout when persistence is asked for without one.
inline constexpr uint32_t kDefaultPersistenceTimeout = 300;

// Why a configuration is not taken: every layer (engine, daemon, control
// plane, API) reports its refusals as this one value.
struct ConfigError {
  enum class Kind : uint8_t {
    invalid,        // a bad value
    conflict,       // clashes with another object: a duplicate name, VIP, fwmark, mark or server
    needs_restart,  // only a restart can change it (the table's size, the queues, the API...)
  };
  std::string field;   // e.g. "services[1].servers[0].mark"
  std::string reason;  // e.g. "mark 7 is already used by services[0].servers[2]"
  Kind kind = Kind::invalid;
  std::string message() const { return field + ": " + reason; }
};

// Checks everything the engine relies on: unique names and marks, known
// schedulers and PEs, weights 0..kMaxWeight, call limits, netmask within the family, at most
// kMaxServices and kMaxRealServers... A clash is told from the later object's
// side, by index ("mark 7 is already used by services[0].servers[2]").
std::optional<ConfigError> validate(const EngineConfig& config);

// An EngineConfig that validate() accepted. Only validated() makes one, so
// the engine takes it (Engine's constructor, Engine::apply) without
// checking it again: a change is validated once, by whoever makes it.
class ValidConfig {
 public:
  const EngineConfig& get() const { return config_; }
  EngineConfig take() && { return std::move(config_); }
  // caller_data is not validated: setting it keeps the configuration valid.
  void set_caller_data(uint64_t data) { config_.caller_data = data; }

 private:
  friend std::variant<ValidConfig, ConfigError> validated(EngineConfig config);
  explicit ValidConfig(EngineConfig config) : config_(std::move(config)) {}
  EngineConfig config_;
};

// `config` as a ValidConfig, or what validate() found wrong with it.
std::variant<ValidConfig, ConfigError> validated(EngineConfig config);

// The one object a change edits (the REST API edits one service, or one
// server of a service), by its index in the configuration.
struct EditedObject {
  std::size_t service = 0;
  std::optional<std::size_t> server;  // none: the service itself
};

// The clashes validate() finds between `edited` and any other object, told
// from the edited object's side and by name, as the one who edits it sees
// them ("mark 0x00000007 is already used by server 198.18.1.10 of service
// 'b'"). A change of one object checks these before validate().
std::optional<ConfigError> edited_conflicts(const EngineConfig& config, const EditedObject& edited);

// A packet mark as operators write it: "0x0000ffff".
std::string mark_to_string(uint32_t mark);

}  // namespace sipvs
