#pragma once
// A real server's id in paths, filters and metric labels: "address" when its
// port is 0 (it takes the service's port), else "address:port", with IPv6
// addresses in brackets ("[2001:2::1]:5060").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ip_address.hpp"

namespace sipvsd::api {

std::string server_id(const sipvs::IpAddress& address, uint16_t port);

struct ServerRef {
  sipvs::IpAddress address;
  std::optional<uint16_t> port;  // nullopt: not given (any port)
};
// Accepts "address", "address:port", "[v6]" and "[v6]:port"; nullopt if malformed.
std::optional<ServerRef> parse_server_id(std::string_view text);

}  // namespace sipvsd::api
