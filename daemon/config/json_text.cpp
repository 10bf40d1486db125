#include "daemon/config/json_text.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using nlohmann::json;

JsonSyntaxError::JsonSyntaxError(std::size_t line, std::size_t column, std::string reason)
    : std::runtime_error(std::to_string(line) + ":" + std::to_string(column) + ": " + reason),
      line_(line),
      column_(column),
      reason_(std::move(reason)) {}

namespace {

// nlohmann/json's DOM builder, plus two checks as the SAX events come:
// duplicate keys (nlohmann/json keeps the last of them without a word; a
// config with two "weight"s is a mistake worth reporting) and the nesting
// depth (nlohmann/json copies, compares and merge-patches recursively: a
// document nested deeper than any of ours is refused before it can exhaust a
// thread's stack). Not the callback parser: it walks the parent container at
// each object's end, quadratic in an array of 10 000 servers.
class CheckedDomBuilder : public nlohmann::detail::json_sax_dom_parser<json> {
  using Base = nlohmann::detail::json_sax_dom_parser<json>;

 public:
  explicit CheckedDomBuilder(json& result) : Base(result, true) {}

  // sax_parse() calls these by the static type: they shadow the base's.
  bool start_object(std::size_t n) { return open(false) && Base::start_object(n); }
  bool start_array(std::size_t n) { return open(true) && Base::start_array(n); }
  bool end_object() { return close() && Base::end_object(); }
  bool end_array() { return close() && Base::end_array(); }
  bool key(json::string_t& k) {
    Frame& f = stack_.back();
    f.key = k;
    if (!f.keys.insert(k).second) throw ConfigFieldError(path(), "duplicate key");
    return Base::key(k);
  }
  bool null() { return value_done() && Base::null(); }
  bool boolean(bool v) { return value_done() && Base::boolean(v); }
  bool number_integer(json::number_integer_t v) { return value_done() && Base::number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value_done() && Base::number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return value_done() && Base::number_float(v, s); }
  bool string(json::string_t& v) { return value_done() && Base::string(v); }
  bool binary(json::binary_t& v) { return value_done() && Base::binary(v); }
  // A number beyond a double ("1e999") comes as out_of_range.406, which no
  // caller expects: it is a fault of the text like any other syntax error.
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    if constexpr (std::is_same_v<Exception, json::out_of_range>)
      throw json::parse_error::create(101, position, "number overflow parsing '" + token + "'", nullptr);
    return Base::parse_error(position, token, error);
  }

 private:
  struct Frame {
    bool array = false;
    std::size_t index = 0;  // arrays: the element being parsed
    std::string key;        // objects: the member being parsed
    std::set<std::string> keys;
  };

  bool open(bool array) {
    if (stack_.size() >= kMaxJsonDepth)
      throw ConfigFieldError(path(), "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    stack_.push_back(Frame{array, 0, {}, {}});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return value_done();
  }
  bool value_done() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    return true;
  }
  // Where the parser is: "services[1].servers[0].mark".
  std::string path() const {
    std::string p;
    for (const Frame& f : stack_) p = f.array ? p + "[" + std::to_string(f.index) + "]" : json_fields::sub(p, f.key);
    return p;
  }

  std::vector<Frame> stack_;
};

}  // namespace

nlohmann::json parse_json_text(std::string_view text) {
  try {
    json result;
    CheckedDomBuilder builder(result);
    json::sax_parse(text.begin(), text.end(), &builder);
    return result;
  } catch (const json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line L, column C: reason"
    std::string what = e.what();
    std::size_t line = 0, column = 0;
    const auto at = what.find("at line ");
    if (at == std::string::npos ||
        std::sscanf(what.c_str() + at, "at line %zu, column %zu", &line, &column) != 2) {
      line = 1;
      column = 1;
      const std::size_t end = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
      for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
    }
    std::string reason = what;
    if (const auto colon = what.find(": ", at == std::string::npos ? 0 : at); colon != std::string::npos)
      reason = what.substr(colon + 2);
    throw JsonSyntaxError(line, column, reason);
  }
}

}  // namespace sipvsd
