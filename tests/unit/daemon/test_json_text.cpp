// JSON text: syntax errors, duplicate keys and nesting depth, as every JSON
// that sipvsd reads is parsed.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_text.hpp"

using nlohmann::json;
using sipvsd::ConfigFieldError;

TEST_CASE("JSON text: syntax errors with line and column, duplicate keys with their path") {
  SUBCASE("syntax") {
    try {
      sipvsd::parse_json_text("{\n  \"queues\": \"0-1\"\n  \"mark_mask\": 1\n}");
      FAIL("no error");
    } catch (const sipvsd::JsonSyntaxError& e) {
      CHECK(e.line() == 3);
      CHECK(e.column() == 13);  // nlohmann/json points at the end of the unexpected token
      CHECK(e.reason().find("expected '}'") != std::string::npos);
    }
    CHECK_THROWS_AS(sipvsd::parse_json_text(""), sipvsd::JsonSyntaxError);
    CHECK_THROWS_AS(sipvsd::parse_json_text("{} x"), sipvsd::JsonSyntaxError);
    CHECK_THROWS_AS(sipvsd::parse_json_text("{\"a\": 1,}"), sipvsd::JsonSyntaxError);
    // A number beyond a double escaped as another exception type (found by fuzz_loaders).
    try {
      sipvsd::parse_json_text("{\n  \"udp_timeout\": 1e999}");
      FAIL("no error");
    } catch (const sipvsd::JsonSyntaxError& e) {
      CHECK(e.line() == 2);
      CHECK(e.reason().find("number overflow") != std::string::npos);
    }
  }
  SUBCASE("duplicate keys") {
    try {
      sipvsd::parse_json_text(
          R"({"services": [{"name": "a"}, {"name": "b", "servers": [{"mark": 1}, {"mark": 2, "mark": 3}]}]})");
      FAIL("no error");
    } catch (const ConfigFieldError& e) {
      CHECK(e.field() == "services[1].servers[1].mark");
      CHECK(e.reason() == "duplicate key");
    }
    CHECK_THROWS_AS(sipvsd::parse_json_text(R"({"queues": 1, "queues": 2})"), ConfigFieldError);
    // Same key in different objects is fine; nested arrays keep their indexes.
    const json j = sipvsd::parse_json_text(R"({"a": {"k": 1}, "b": {"k": [[1, 2], {"k": 3}]}, "k": 0})");
    CHECK(j["b"]["k"][1]["k"] == 3);
    try {
      sipvsd::parse_json_text(R"({"x": [[1], [2], {"y": 1, "y": 2}]})");
      FAIL("no error");
    } catch (const ConfigFieldError& e) {
      CHECK(e.field() == "x[2].y");
    }
  }
}

TEST_CASE("JSON text: nesting deeper than kMaxJsonDepth is an error, not a stack overflow") {
  // One level per byte, as deep as the API's 1 MiB body allows: before the
  // limit, copying or merge-patching this overflowed the stack (SIGSEGV).
  const std::size_t deep = 1024 * 1024;
  for (const std::string& text : {std::string(deep, '['), [&] {
         std::string t;
         for (std::size_t i = 0; i < deep / 6; ++i) t += "{\"a\": ";
         return t;
       }()}) {
    try {
      sipvsd::parse_json_text(text);
      FAIL("no error");
    } catch (const ConfigFieldError& e) {
      CHECK(e.reason() == "nested deeper than 32 levels");
    }
  }
  auto nested = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  CHECK_NOTHROW(sipvsd::parse_json_text(nested(sipvsd::kMaxJsonDepth)));
  CHECK_THROWS_AS(sipvsd::parse_json_text(nested(sipvsd::kMaxJsonDepth + 1)), ConfigFieldError);
  try {
    sipvsd::parse_json_text(R"({"services": [{"servers": [{"health_check": {"codes": )" + nested(40) + "}}]}]}");
    FAIL("no error");
  } catch (const ConfigFieldError& e) {
    CHECK(std::string_view(e.field()).starts_with("services[0].servers[0].health_check.codes[0][0]"));
  }
}
