#pragma once
// What a parse of a configuration complains about, for the daemon's unit tests.
#include <string>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_json.hpp"

namespace test {

// The field (path) a parse of `j` names, or "" if it parses.
inline std::string error_field(const nlohmann::json& j) {
  try {
    sipvsd::parse_config(j);
  } catch (const sipvsd::ConfigFieldError& e) {
    return e.field();
  }
  return "";
}

// Its reason, or "" if it parses.
inline std::string error_reason(const nlohmann::json& j) {
  try {
    sipvsd::parse_config(j);
  } catch (const sipvsd::ConfigFieldError& e) {
    return e.reason();
  }
  return "";
}

}  // namespace test
