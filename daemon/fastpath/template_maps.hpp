#pragma once
// The program's two template maps (fast_path_abi.h) as one: a template's
// copy is in `templates_short` when its Call-ID is short
// (sipvsd_fp_key_is_short), else in `templates`. Callers name a template by
// its whole key and this picks the map. Only bpf(2) calls on descriptors it
// does not own: any thread may call it, as the kernel's maps allow.
#include <cstddef>
#include <optional>

#include "daemon/fastpath/fast_path_abi.h"

namespace sipvsd {

class TemplateMaps {
 public:
  TemplateMaps(int templates_fd, int templates_short_fd)
      : templates_fd_(templates_fd), templates_short_fd_(templates_short_fd) {}

  // Writes the copies, in order, to the map that takes their key type, in
  // one system call where the kernel takes them all. Returns how many the
  // map refused (full, out of memory); the others are written.
  std::size_t write(const sipvsd_fp_key* keys, const sipvsd_fp_target* targets, std::size_t count) const;
  std::size_t write(const sipvsd_fp_short_key* keys, const sipvsd_fp_target* targets, std::size_t count) const;
  // One copy, to the map its key's length picks: 1 if the map refused it.
  std::size_t write_one(const sipvsd_fp_key& key, const sipvsd_fp_target& target) const;
  std::optional<sipvsd_fp_target> find(const sipvsd_fp_key& key) const;
  void erase(const sipvsd_fp_key& key) const;
  // Moves the copies of short Call-IDs that a sipvsd with one map left in
  // `templates` to `templates_short`, where the program looks for them.
  // Returns how many it moved.
  std::size_t move_short_copies() const;

 private:
  int map_of(const sipvsd_fp_key& key) const {
    return sipvsd_fp_key_is_short(&key) ? templates_short_fd_ : templates_fd_;
  }
  int templates_fd_, templates_short_fd_;
};

// The short map's key for a key that sipvsd_fp_key_is_short: its first bytes.
sipvsd_fp_short_key short_key(const sipvsd_fp_key& key);

}  // namespace sipvsd
