#pragma once
// The character-level pieces of SIP parsing that the header finder and the
// parameter readers share: whitespace, ASCII case folding and trimming. All
// constexpr and table-driven: the per-packet parser pays one load per
// character instead of range compares.
#include <array>
#include <string_view>

namespace sipvs::sip_text {

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }

inline constexpr std::array<char, 256> kLower = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  return t;
}();
constexpr char lower(char c) { return kLower[static_cast<unsigned char>(c)]; }

// Whether the b.size() bytes at `a` equal `b`, ignoring ASCII case; the
// caller knows that many bytes are there.
constexpr bool iequal_prefix(const char* a, std::string_view b) {
  for (std::size_t i = 0; i < b.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

constexpr bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && iequal_prefix(a.data(), b);
}

// Without the spaces and tabs around it.
constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace sipvs::sip_text
