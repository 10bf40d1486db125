#include "daemon/config/json_fields.hpp"

#include <algorithm>
#include <charconv>

#include "daemon/config/config_field_error.hpp"

namespace sipvsd {

using nlohmann::json;

namespace json_fields {

namespace {

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

}  // namespace

std::string sub(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

std::string index(const std::string& prefix, std::size_t i) {
  return prefix + "[" + std::to_string(i) + "]";
}

void expect_object(const json& j, const std::string& field) {
  if (!j.is_object()) throw ConfigFieldError(field.empty() ? "config" : field, "must be a JSON object");
}

void check_keys(const json& j, const std::string& field, std::initializer_list<std::string_view> known) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end())
      throw ConfigFieldError(sub(field, it.key()), "unknown key (known keys: " + join(known) + ")");
  }
}

void check_array(const json& v, const std::string& field, std::size_t max, const char* what) {
  if (!v.is_array()) throw ConfigFieldError(field, "must be an array");
  if (v.size() > max)
    throw ConfigFieldError(field, std::to_string(v.size()) + " " + what + ", the engine holds at most " +
                                      std::to_string(max));
}

const json* find(const json& j, std::string_view key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

uint64_t get_uint(const json& v, const std::string& field, uint64_t max) {
  if (v.is_number_unsigned()) {
    const auto x = v.get<uint64_t>();
    if (x > max) throw ConfigFieldError(field, "must be between 0 and " + std::to_string(max));
    return x;
  }
  if (v.is_number_integer()) {  // signed: built in C++ rather than parsed, or negative
    const auto x = v.get<int64_t>();
    if (x < 0 || static_cast<uint64_t>(x) > max)
      throw ConfigFieldError(field, "must be between 0 and " + std::to_string(max));
    return static_cast<uint64_t>(x);
  }
  if (v.is_number_float()) throw ConfigFieldError(field, "must be an integer");
  throw ConfigFieldError(field, "must be a number");
}

std::string get_string(const json& v, const std::string& field) {
  if (!v.is_string()) throw ConfigFieldError(field, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxString)
    throw ConfigFieldError(field, "is " + std::to_string(s.size()) + " bytes long, at most " +
                                      std::to_string(kMaxString) + " are taken");
  return s;
}

bool get_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) throw ConfigFieldError(field, "must be true or false");
  return v.get<bool>();
}

uint32_t get_mark(const json& v, const std::string& field) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    std::string_view digits = s;
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      digits.remove_prefix(2);
      base = 16;
    }
    uint64_t x = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x, base);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
      throw ConfigFieldError(field, "\"" + s + "\" is not a number (use 0x... for hex)");
    if (x > 0xffffffffu) throw ConfigFieldError(field, "\"" + s + "\" does not fit in 32 bits");
    return static_cast<uint32_t>(x);
  }
  if (v.is_number()) return static_cast<uint32_t>(get_uint(v, field, 0xffffffffu));
  throw ConfigFieldError(field, "must be a number or a \"0x...\" string");
}

sipvs::IpAddress get_address(const json& v, const std::string& field) {
  const std::string s = get_string(v, field);
  auto a = sipvs::IpAddress::parse(s);
  if (!a) throw ConfigFieldError(field, "\"" + s + "\" is not an IPv4 or IPv6 address");
  return *a;
}

}  // namespace json_fields
}  // namespace sipvsd
