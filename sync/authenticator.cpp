#include "sync/authenticator.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sipvs::sync {

static_assert(crypto_auth_KEYBYTES == kKeySize && crypto_auth_BYTES == kMacSize);

namespace {

void init_sodium() {
  // Idempotent and thread-safe; -1 only when the system has no randomness.
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Authenticator::Authenticator(const Key& key) : key_(key) { init_sodium(); }

Authenticator::~Authenticator() { sodium_memzero(key_.data(), key_.size()); }

Authenticator::Authenticator(const Authenticator&) = default;
Authenticator& Authenticator::operator=(const Authenticator&) = default;

Mac Authenticator::sign(std::span<const uint8_t> data) const {
  Mac mac;
  crypto_auth(mac.data(), data.data(), data.size(), key_.data());
  return mac;
}

bool Authenticator::verify(std::span<const uint8_t> data, std::span<const uint8_t, kMacSize> mac) const {
  return crypto_auth_verify(mac.data(), data.data(), data.size(), key_.data()) == 0;
}

Authenticator Authenticator::for_channel(std::span<const uint8_t> channel) const {
  Key derived;
  crypto_generichash(derived.data(), derived.size(), channel.data(), channel.size(), key_.data(), key_.size());
  Authenticator a(derived);
  sodium_memzero(derived.data(), derived.size());
  return a;
}

std::variant<Authenticator, std::string> load_key_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return path + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + ": mode " + mode + " lets others read the key (chmod 600)";
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return path + ": cannot be read";
  std::string s = text.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (s.size() != 2 * kKeySize)
    return path + ": line 1: the key is " + std::to_string(2 * kKeySize) + " hexadecimal digits (openssl rand -hex " +
           std::to_string(kKeySize) + "), not " + std::to_string(s.size()) + " characters";
  Key key;
  for (std::size_t i = 0; i < kKeySize; ++i) {
    const int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return path + ": line 1: column " + std::to_string(2 * i + 1 + (hi < 0 ? 0 : 1)) +
                                 ": not a hexadecimal digit";
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  sodium_memzero(s.data(), s.size());
  Authenticator auth(key);
  sodium_memzero(key.data(), key.size());
  return auth;
}

}  // namespace sipvs::sync
