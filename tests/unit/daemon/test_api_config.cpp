// The configuration's "api" object: listen addresses, a listener somewhere, a
// token off the loopback.
#include <doctest/doctest.h>

#include <utility>

#include "config_errors.hpp"
#include "daemon/config/api_config.hpp"

using nlohmann::json;
using test::error_field;

TEST_CASE("api: numeric listen addresses; a listener somewhere; off the loopback only with a token") {
  using sipvsd::parse_listen_address;
  CHECK(parse_listen_address("127.0.0.1:8080")->port == 8080);
  CHECK(parse_listen_address("[::1]:0")->address.to_string() == "::1");
  for (const char* bad : {"localhost:8080", "127.0.0.1:99999", "127.0.0.1", "127.0.0.1:", ":8080", "::1:8080",
                          "[127.0.0.1]:8080", "[::1]8080", "127.0.0.1:80x", "127.0.0.1:-1"})
    CHECK_MESSAGE(!parse_listen_address(bad), bad);
  CHECK(parse_listen_address("127.0.0.2:1")->is_loopback());
  CHECK(parse_listen_address("[::1]:1")->is_loopback());
  CHECK_FALSE(parse_listen_address("0.0.0.0:8080")->is_loopback());
  CHECK_FALSE(parse_listen_address("[::]:8080")->is_loopback());
  CHECK_FALSE(parse_listen_address("[::ffff:127.0.0.1]:8080")->is_loopback());  // a dual-stack socket: any v4 too

  auto with_api = [](json api) { return json{{"api", std::move(api)}}; };
  CHECK(error_field(with_api({{"listen", "localhost:8080"}})) == "api.listen");
  CHECK(error_field(with_api({{"listen", "127.0.0.1:99999"}})) == "api.listen");
  CHECK(error_field(with_api({{"listen", ""}})) == "api");
  CHECK(test::error_reason(with_api({{"listen", ""}})).find("neither listen nor unix_socket") != std::string::npos);
  CHECK(error_field(with_api({{"listen", "0.0.0.0:8080"}})) == "api.token_file");
  CHECK(error_field(with_api({{"listen", "[2001:db8::1]:8080"}})) == "api.token_file");
  CHECK(error_field(with_api({{"listen", "198.18.0.1:8080"}, {"token_file", "/etc/sipvsd/token"}})) == "");
  CHECK(error_field(with_api({{"listen", "127.0.0.1:8080"}})) == "");
  CHECK(error_field(with_api({{"listen", ""}, {"unix_socket", "/run/sipvsd/api.sock"}})) == "");
}
