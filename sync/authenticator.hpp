#pragma once
// The MAC every sync datagram carries under the directors' shared key:
// HMAC-SHA-512-256 (libsodium's crypto_auth), verified in constant time.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

namespace sipvs::sync {

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kMacSize = 32;
using Key = std::array<uint8_t, kKeySize>;
using Mac = std::array<uint8_t, kMacSize>;

class Authenticator {
 public:
  explicit Authenticator(const Key& key);
  ~Authenticator();
  Authenticator(const Authenticator&);
  Authenticator& operator=(const Authenticator&);

  Mac sign(std::span<const uint8_t> data) const;
  bool verify(std::span<const uint8_t> data, std::span<const uint8_t, kMacSize> mac) const;

  // The key of the datagrams sent to one destination (`channel`: its family,
  // address and port; sync_socket.hpp's channel_of): BLAKE2b of it keyed by
  // this key. A datagram replayed to another director, or between a group
  // and a director, fails its MAC there.
  Authenticator for_channel(std::span<const uint8_t> channel) const;

 private:
  Key key_;
};

// A key file: the key as 64 hexadecimal digits (`openssl rand -hex 32`),
// a final newline allowed, nothing else; readable by its owner only (mode
// 0600 or 0400). The error names the path and the reason.
std::variant<Authenticator, std::string> load_key_file(const std::string& path);

}  // namespace sipvs::sync
