#pragma once
// SipHash-1-3 (Aumasson & Bernstein), streaming. The template table keys it
// with a per-process random secret: Call-IDs come from outside, and a keyed
// PRF keeps an attacker from choosing values that collide in one chain.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sipvs {

struct HashKey {
  uint64_t k0 = 0, k1 = 0;
  static HashKey random();  // from the kernel's CSPRNG
};

class SipHasher {
 public:
  explicit SipHasher(const HashKey& key)
      : v0_(0x736f6d6570736575ULL ^ key.k0), v1_(0x646f72616e646f6dULL ^ key.k1),
        v2_(0x6c7967656e657261ULL ^ key.k0), v3_(0x7465646279746573ULL ^ key.k1) {}

  void update(const void* data, std::size_t n) {
    auto p = static_cast<const uint8_t*>(data);
    total_ += n;
    if (tail_len_) {
      while (n && tail_len_ < 8) { tail_ |= uint64_t{*p++} << (8 * tail_len_++); --n; }
      if (tail_len_ < 8) return;
      compress(tail_);
      tail_ = 0;
      tail_len_ = 0;
    }
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t m;
      std::memcpy(&m, p, 8);  // little-endian machines only (x86-64, arm64)
      compress(m);
    }
    while (n--) tail_ |= uint64_t{*p++} << (8 * tail_len_++);
  }
  void update(std::string_view s) { update(s.data(), s.size()); }
  template <class T>
  void update_value(const T& v) { update(&v, sizeof v); }

  uint64_t finish() {
    compress(tail_ | (uint64_t{total_ & 0xff} << 56));
    v2_ ^= 0xff;
    round(); round(); round();
    return v0_ ^ v1_ ^ v2_ ^ v3_;
  }

 private:
  static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
  void round() {
    v0_ += v1_; v1_ = rotl(v1_, 13); v1_ ^= v0_; v0_ = rotl(v0_, 32);
    v2_ += v3_; v3_ = rotl(v3_, 16); v3_ ^= v2_;
    v0_ += v3_; v3_ = rotl(v3_, 21); v3_ ^= v0_;
    v2_ += v1_; v1_ = rotl(v1_, 17); v1_ ^= v2_; v2_ = rotl(v2_, 32);
  }
  void compress(uint64_t m) { v3_ ^= m; round(); v0_ ^= m; }

  uint64_t v0_, v1_, v2_, v3_;
  uint64_t tail_ = 0;
  unsigned tail_len_ = 0;
  std::size_t total_ = 0;
};

inline uint64_t siphash(const HashKey& key, std::string_view data) {
  SipHasher h(key);
  h.update(data);
  return h.finish();
}

// A hash that is the same in every process: schedulers that must agree across
// directors with no shared state (mh, sh) use it instead of the secret key.
inline constexpr HashKey kStableHashKey{0x73697076735f6d68ULL, 0x6d61676c65763031ULL};

}  // namespace sipvs
