#pragma once
// The daemon's configuration file (JSON): the engine's services and limits plus
// the daemon's own settings (queues, mark mask, policy for unplaced packets,
// API). The REST API uses the same schema, so every conversion here is a plain
// function of values: parse_* throws ConfigFieldError naming the field, *_to_json
// produces what parse_* accepts (parse(to_json(c)) == c).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_config.hpp"
#include "daemon/health/health_check_config.hpp"

namespace sipvsd {

struct ApiConfig {
  std::string listen = "127.0.0.1:8080";  // host:port; empty = no TCP listener
  std::string unix_socket;                // path; empty = none
  std::string token_file;                 // bearer token file; empty = no auth
  friend bool operator==(const ApiConfig&, const ApiConfig&) = default;
};

// How sipvsd programs the kernel's mark -> real server mapping (forwarding.hpp).
struct ForwardingOptions {
  uint32_t table_base = 20000;     // route: sipvsd's routing tables, table_base .. +kForwardingSlots-1
  uint32_t priority_base = 20000;  // route: its ip rules' priorities, priority_base .. +kForwardingSlots-1
  bool remove_on_exit = false;     // on clean shutdown remove what it created (default: leave it)
  friend bool operator==(const ForwardingOptions&, const ForwardingOptions&) = default;
};
inline constexpr uint32_t kForwardingSlots = 4096;  // real servers per back-end

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
  std::string forwarding = "none";  // none | route | ipvs
  ForwardingOptions forwarding_options;
  // SIP OPTIONS probing, from the "health_check" keys of services and servers
  // (health_check.hpp): kept beside the engine's services, which know nothing of it.
  HealthChecks health_checks;
  friend bool operator==(const DaemonConfig&, const DaemonConfig&) = default;
};

inline constexpr unsigned kMaxDebugLevel = 10;
inline constexpr std::size_t kMaxQueues = 32;  // one engine worker per queue (sipvs::kMaxWorkers)

// A configuration, or a change to it, that is not taken: a field missing,
// of the wrong type or with a bad value, a clash between objects, or a
// setting only a restart can change (the kinds of sipvs::ConfigError).
// `field` is a path like "services[1].servers[0].mark".
class ConfigFieldError : public std::runtime_error {
 public:
  using Kind = sipvs::ConfigError::Kind;
  ConfigFieldError(std::string field, std::string reason, Kind kind = Kind::invalid);
  explicit ConfigFieldError(sipvs::ConfigError error);
  const std::string& field() const { return error_.field; }
  const std::string& reason() const { return error_.reason; }
  Kind kind() const { return error_.kind; }

 private:
  sipvs::ConfigError error_;
};

// A file sipvsd cannot start with: the configuration file, or a state file
// that exists, when unreadable, not JSON ("path:line:column: reason"), with
// a bad field ("path: field: reason") or, for a state file, of a newer
// format. A state file's message ends with the way out.
class UnusableFile : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// JSON text that is not valid JSON; line and column are 1-based.
class JsonSyntaxError : public std::runtime_error {
 public:
  JsonSyntaxError(std::size_t line, std::size_t column, std::string reason);
  std::size_t line() const { return line_; }
  std::size_t column() const { return column_; }
  const std::string& reason() const { return reason_; }

 private:
  std::size_t line_, column_;
  std::string reason_;
};

// Parses JSON text, rejecting duplicate object keys (which nlohmann/json would
// silently collapse) and objects or arrays nested deeper than kMaxJsonDepth
// with a ConfigFieldError naming the path. Every JSON that sipvsd reads (config,
// state and templates files, API bodies) comes through here.
inline constexpr std::size_t kMaxJsonDepth = 32;  // ours nest 6 deep at most
nlohmann::json parse_json_text(std::string_view text);

// The whole configuration: types and formats here, then sipvs::validate() for
// the engine's semantic checks (unique names and marks, known schedulers...),
// then the daemon's own (marks within mark_mask). Throws ConfigFieldError.
DaemonConfig parse_config(const nlohmann::json& j);
nlohmann::json to_json(const DaemonConfig& c);

// Per resource, for the REST API. `field` is the path used in error messages
// (e.g. "services[2]"); these check types and formats only, not the engine's
// cross-object rules (run sipvs::validate on the whole EngineConfig for those).
sipvs::ServiceConfig service_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json service_to_json(const sipvs::ServiceConfig& s);
sipvs::RealServerConfig server_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json server_to_json(const sipvs::RealServerConfig& s);
// A "health_check" object; keys it lacks keep `base`'s values (a server's
// check starts from its service's).
HealthCheckConfig health_check_from_json(const nlohmann::json& j, const std::string& field,
                                         const HealthCheckConfig& base = {});
nlohmann::json health_check_to_json(const HealthCheckConfig& h);

// A service or a real server as the config file and the REST API write it:
// the engine's part and the "health_check" keys (the service's own and its
// servers').
struct CheckedService {
  sipvs::ServiceConfig service;
  ServiceHealthChecks checks;
};
CheckedService checked_service_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json service_to_json(const sipvs::ServiceConfig& s, const HealthChecks& checks);
struct CheckedServer {
  sipvs::RealServerConfig server;
  std::optional<HealthCheckConfig> check;  // the server's own, if it has one
};
// `service` holds the check whose values the server's own starts from.
CheckedServer checked_server_from_json(const nlohmann::json& j, const std::string& field,
                                       const ServiceHealthChecks& service);
nlohmann::json server_to_json(const sipvs::RealServerConfig& r, const ServiceHealthChecks* checks);
// Sets the checks of service `name`, or forgets them when it has none (so
// that a service or server added later under the same name starts unchecked).
void set_health_checks(HealthChecks& all, const std::string& name, ServiceHealthChecks checks);
// api.listen: "ip:port" or "[v6]:port", numeric (no names: the API must
// not depend on the resolver at start). nullopt if malformed.
struct ListenAddress {
  sipvs::IpAddress address;
  uint16_t port = 0;
  bool is_loopback() const;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);
ApiConfig api_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json api_to_json(const ApiConfig& a);

// The daemon-level checks on an already parsed configuration (also done by
// parse_config): engine validation, marks within mark_mask, queue limits, an
// API that listens somewhere and, off the loopback, only with a token.
void check_config(const DaemonConfig& c);

// Queue lists: "0-1", "0,2,4-7", "3" (also used by --queue). Sorted, no duplicates.
std::vector<uint16_t> parse_queue_spec(std::string_view text);  // throws std::invalid_argument
std::string queue_spec_to_string(const std::vector<uint16_t>& queues);

// Reads, parses and checks a file. Throws UnusableFile.
DaemonConfig load_config_file(const std::string& path);

std::string_view to_string(DaemonConfig::Unplaced u);
std::string mark_to_string(uint32_t mark);  // "0x0000ffff"
std::string_view to_string(sipvs::Forward f);   // "dr", "tun", "masq"

}  // namespace sipvsd
