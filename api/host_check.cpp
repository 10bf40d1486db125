#include "api/host_check.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace sipvsd::api {

namespace {

namespace ip = boost::asio::ip;

// ::ffff:127.0.0.1 on a dual-stack listener is 127.0.0.1 to the client.
ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

// The names that resolve to the loopback on Debian (/etc/hosts), and that a
// page served from elsewhere cannot take over.
constexpr std::string_view kLoopbackNames[] = {"localhost", "ip6-localhost", "ip6-loopback"};

}  // namespace

bool host_allowed(std::string_view host, const ip::address& local) {
  // Strip the port: "[v6]:port", "v4:port", "name:port".
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    name = name.substr(1, close - 1);
  } else if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (name.empty()) return false;

  boost::system::error_code ec;
  const ip::address literal = ip::make_address(std::string(name), ec);
  if (!ec) return unmapped(literal).is_loopback() || unmapped(literal) == unmapped(local);

  std::string lower(name);
  if (lower.back() == '.') lower.pop_back();  // "localhost." is the same name
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(std::begin(kLoopbackNames), std::end(kLoopbackNames), lower) != std::end(kLoopbackNames);
}

}  // namespace sipvsd::api
