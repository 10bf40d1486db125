#pragma once
// Reads a fuzz input as a sequence of small fields. Past the end every field
// reads as zero and every string as empty, so any input is a complete run;
// seed writers (make_seeds.cpp) lay their inputs out in the same order.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fuzz {

class Input {
 public:
  Input(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(byte() << 8 | byte()); }
  uint32_t u32() { return static_cast<uint32_t>(u16()) << 16 | u16(); }
  // A string with a 16-bit big-endian length in front, cut at the input's end.
  std::string_view text() {
    std::size_t n = u16();
    if (n > size_ - pos_) n = size_ - pos_;
    const std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace fuzz
