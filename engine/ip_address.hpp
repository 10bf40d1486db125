#pragma once
// An IPv4 or IPv6 address as a value: the engine's key material, so it is
// trivially copyable and compares byte-wise.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipvs {

struct IpAddress {
  enum class Family : uint8_t { none = 0, v4 = 4, v6 = 6 };

  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes, the rest stay zero
  Family family = Family::none;

  static IpAddress v4(const uint8_t* b);
  static IpAddress v6(const uint8_t* b);
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family == Family::v4; }
  unsigned max_prefix() const { return is_v4() ? 32 : 128; }
  // The address with only its first `prefix` bits kept (the persistence mask).
  IpAddress masked(unsigned prefix) const;
  std::string to_string() const;
  // With a port: "198.18.1.1:5060", "[2001:db8::1]:5060".
  std::string to_string(uint16_t port) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses a persistence netmask: an IPv4 dotted mask ("255.255.255.0", "0.0.0.0")
// or a prefix length ("24"). Returns the prefix length, or nullopt if invalid
// (non-contiguous mask, prefix larger than the family allows).
std::optional<unsigned> parse_netmask(std::string_view text, IpAddress::Family family);

}  // namespace sipvs
