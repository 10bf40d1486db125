#include "daemon/config/api_config.hpp"

#include <algorithm>
#include <charconv>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

bool ListenAddress::is_loopback() const {
  static constexpr uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (address.is_v4()) return address.bytes[0] == 127;
  return std::equal(address.bytes.begin(), address.bytes.end(), kV6Loopback);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  ListenAddress out;
  const auto address = sipvs::IpAddress::parse(host);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (!address || port.empty() || ec != std::errc{} || end != port.data() + port.size()) return std::nullopt;
  out.address = *address;
  return out;
}

ApiConfig api_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"listen", "unix_socket", "token_file"});
  ApiConfig a;
  if (const json* v = find(j, "listen")) {
    a.listen = get_string(*v, sub(field, "listen"));
    if (!a.listen.empty() && !parse_listen_address(a.listen))
      throw ConfigFieldError(sub(field, "listen"), "\"" + a.listen +
                                                       "\" is not a numeric ip:port or [ipv6]:port "
                                                       "(e.g. 127.0.0.1:8080; empty: no TCP listener)");
  }
  if (const json* v = find(j, "unix_socket")) a.unix_socket = get_string(*v, sub(field, "unix_socket"));
  if (const json* v = find(j, "token_file")) a.token_file = get_string(*v, sub(field, "token_file"));
  return a;
}

json api_to_json(const ApiConfig& a) {
  return json{{"listen", a.listen}, {"unix_socket", a.unix_socket}, {"token_file", a.token_file}};
}

// Secure by default: whoever reaches the API can reconfigure the director,
// so off the loopback it needs a token (the Unix socket has its file mode).
void check_api(const ApiConfig& a) {
  if (a.listen.empty() && a.unix_socket.empty())
    throw ConfigFieldError("api", "neither listen nor unix_socket is set: sipvsd needs a way to be managed");
  if (!a.listen.empty() && a.token_file.empty()) {
    const auto at = parse_listen_address(a.listen);
    if (at && !at->is_loopback())
      throw ConfigFieldError("api.token_file", "required: api.listen " + a.listen +
                                                   " is not a loopback address, and without a token anyone "
                                                   "who reaches it can reconfigure the director");
  }
}

}  // namespace sipvsd
