#pragma once
// The engine's services and real servers as the configuration file and the
// REST API write them, without their "health_check" keys (health_check_json.hpp
// adds those). `field` is the path used in error messages (e.g. "services[2]");
// these check types and formats only, not the engine's cross-object rules
// (run sipvs::validate on the whole EngineConfig for those). Throw ConfigFieldError.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/engine_config.hpp"

namespace sipvsd {

sipvs::ServiceConfig service_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json service_to_json(const sipvs::ServiceConfig& s);
sipvs::RealServerConfig server_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json server_to_json(const sipvs::RealServerConfig& s);

std::string_view to_string(sipvs::Forward f);  // "dr", "tun", "masq"
// A service's "protocol" ("udp"); a number the configuration has no name for, in decimal.
std::string protocol_name(uint8_t number);

}  // namespace sipvsd
