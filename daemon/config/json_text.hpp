#pragma once
// JSON text to nlohmann::json, stricter than nlohmann/json: every JSON that
// sipvsd reads (config, state and templates files, API bodies) comes through
// here.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sipvsd {

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
// with a ConfigFieldError naming the path; throws JsonSyntaxError for text
// that is not JSON.
inline constexpr std::size_t kMaxJsonDepth = 32;  // ours nest 6 deep at most
nlohmann::json parse_json_text(std::string_view text);

}  // namespace sipvsd
