#pragma once
// Typed reads of one JSON value of the configuration's schema (the config
// file, the state file, the REST API): each throws ConfigFieldError naming
// `field`, the value's path ("services[1].servers[0].mark").
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/ip_address.hpp"

namespace sipvsd {

namespace json_fields {

// No value of ours is longer (paths: PATH_MAX); a longer one is refused
// without being echoed into the error.
inline constexpr std::size_t kMaxString = 4096;

// Paths of fields: sub("services[1]", "vip") is "services[1].vip",
// index("services", 1) is "services[1]".
std::string sub(const std::string& prefix, std::string_view key);
std::string index(const std::string& prefix, std::size_t i);

void expect_object(const nlohmann::json& j, const std::string& field);
// Unknown keys are errors: a typo must not silently become a default.
void check_keys(const nlohmann::json& j, const std::string& field, std::initializer_list<std::string_view> known);
// An array of at most `max` items: a larger one is refused before any of
// it is read (an API request at the body limit holds ~10 000 servers).
void check_array(const nlohmann::json& v, const std::string& field, std::size_t max, const char* what);
// The member `key` of object `j`, or null.
const nlohmann::json* find(const nlohmann::json& j, std::string_view key);

uint64_t get_uint(const nlohmann::json& v, const std::string& field, uint64_t max);
std::string get_string(const nlohmann::json& v, const std::string& field);  // at most kMaxString bytes
bool get_bool(const nlohmann::json& v, const std::string& field);
// A 32-bit mark: a number, or a string in hex ("0x1f") or decimal ("31").
uint32_t get_mark(const nlohmann::json& v, const std::string& field);
sipvs::IpAddress get_address(const nlohmann::json& v, const std::string& field);

}  // namespace json_fields
}  // namespace sipvsd
