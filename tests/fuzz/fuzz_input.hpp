#pragma once
// Reads a fuzz input as a sequence of small fields. Past the end every field
// reads as zero and every string as empty, so any input is a complete run;
// seed writers (make_seeds.cpp) lay their inputs out in the same order.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
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

// A directory of this process's own under TMPDIR for the files a target
// writes (state and templates files), made at first use, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sipvsd-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  // Registered once `dir` is made, so it runs before `dir` is destroyed.
  [[maybe_unused]] static const int removal = std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(scratch_dir(), ec);
  });
  return dir;
}

}  // namespace fuzz
