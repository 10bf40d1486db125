#include "engine/ip_address.hpp"

#include <arpa/inet.h>

#include <bit>
#include <charconv>
#include <cstring>

namespace sipvs {

IpAddress IpAddress::v4(const uint8_t* b) {
  IpAddress a;
  std::memcpy(a.bytes.data(), b, 4);
  a.family = Family::v4;
  return a;
}

IpAddress IpAddress::v6(const uint8_t* b) {
  IpAddress a;
  std::memcpy(a.bytes.data(), b, 16);
  a.family = Family::v6;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) return v4(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1) return v6(raw);
  return std::nullopt;
}

IpAddress IpAddress::masked(unsigned prefix) const {
  IpAddress out = *this;
  const unsigned bits = max_prefix();
  if (prefix >= bits) return out;
  for (unsigned i = 0; i < bits / 8; ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= prefix) {
      out.bytes[i] = 0;
    } else if (prefix - first_bit < 8) {
      out.bytes[i] &= static_cast<uint8_t>(0xff00u >> (prefix - first_bit));
    }
  }
  return out;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family == Family::v4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  if (family == Family::v6) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::string IpAddress::to_string(uint16_t port) const {
  std::string s;
  if (!is_v4()) s += '[';
  s += to_string();
  if (!is_v4()) s += ']';
  s += ':';
  s += std::to_string(port);
  return s;
}

std::optional<unsigned> parse_netmask(std::string_view text, IpAddress::Family family) {
  const unsigned max = family == IpAddress::Family::v6 ? 128 : 32;
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), prefix);
  if (ec == std::errc{} && end == text.data() + text.size()) {
    if (prefix > max) return std::nullopt;
    return prefix;
  }
  if (family != IpAddress::Family::v4) return std::nullopt;
  auto mask = IpAddress::parse(text);
  if (!mask || !mask->is_v4()) return std::nullopt;
  uint32_t m = 0;
  std::memcpy(&m, mask->bytes.data(), 4);
  m = ntohl(m);
  const unsigned ones = static_cast<unsigned>(std::countl_one(m));
  if (ones < 32 && (m << ones) != 0) return std::nullopt;  // holes in the mask
  return ones;
}

}  // namespace sipvs
