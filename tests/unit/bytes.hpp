#pragma once
// Byte buffers for the tests that build packets field by field.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, std::size_t at, unsigned v) {  // network order
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// Appends by resize and copy: GCC 12 at -O2 takes vector::insert at the end
// of a vector of constant size for a write out of bounds (a false
// -Warray-bounds that stops a Release build).
template <class Range>
void append(Bytes& b, const Range& what) {
  const std::size_t at = b.size();
  b.resize(at + what.size());
  std::copy(what.begin(), what.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
}

}  // namespace test
