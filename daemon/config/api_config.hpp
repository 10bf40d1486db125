#pragma once
// The configuration's "api" object: where the REST API listens and whether
// it wants a token.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/ip_address.hpp"

namespace sipvsd {

struct ApiConfig {
  std::string listen = "127.0.0.1:8080";  // host:port; empty = no TCP listener
  std::string unix_socket;                // path; empty = none
  std::string token_file;                 // bearer token file; empty = no auth
  friend bool operator==(const ApiConfig&, const ApiConfig&) = default;
};

// api.listen: "ip:port" or "[v6]:port", numeric (no names: the API must
// not depend on the resolver at start). nullopt if malformed.
struct ListenAddress {
  sipvs::IpAddress address;
  uint16_t port = 0;
  bool is_loopback() const;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// `field` names the object in errors ("api"). Throws ConfigFieldError.
ApiConfig api_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json api_to_json(const ApiConfig& a);

// An API that listens somewhere and, off the loopback, only with a token.
// Throws ConfigFieldError.
void check_api(const ApiConfig& a);

}  // namespace sipvsd
