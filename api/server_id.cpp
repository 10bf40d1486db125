#include "api/server_id.hpp"

#include <charconv>

namespace sipvsd::api {

std::string server_id(const sipvs::IpAddress& address, uint16_t port) {
  return port == 0 ? address.to_string() : address.to_string(port);
}

std::optional<ServerRef> parse_server_id(std::string_view text) {
  std::string_view host = text, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) return std::nullopt;
      port = rest.substr(1);
    }
  } else if (text.find(':') != text.rfind(':')) {
    // More than one colon without brackets: a bare IPv6 address, no port.
  } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  ServerRef ref;
  const auto address = sipvs::IpAddress::parse(host);
  if (!address) return std::nullopt;
  ref.address = *address;
  if (!port.empty()) {
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p > 65535) return std::nullopt;
    ref.port = static_cast<uint16_t>(p);
  }
  return ref;
}

}  // namespace sipvsd::api
