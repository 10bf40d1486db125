#include "daemon/fastpath/template_maps.hpp"

#include <bpf/bpf.h>

#include <cstddef>
#include <cstring>
#include <vector>

namespace sipvsd {
namespace {

static_assert(offsetof(sipvsd_fp_short_key, call_id) == offsetof(sipvsd_fp_key, call_id) &&
                  sizeof(sipvsd_fp_short_key) == offsetof(sipvsd_fp_key, call_id) + SIPVSD_FP_SHORT_CALL_ID,
              "the short key is the long one's first bytes");

// A copy the map refuses stops the kernel's walk of the batch: it is
// counted and skipped, and the walk goes on past it.
std::size_t write_batch(int map_fd, const void* keys, std::size_t key_size, const sipvsd_fp_target* targets,
                        std::size_t count) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  std::size_t refused = 0;
  for (std::size_t done = 0; done < count;) {
    auto n = static_cast<uint32_t>(count - done);
    if (bpf_map_update_batch(map_fd, static_cast<const char*>(keys) + done * key_size, targets + done, &n, &opts) == 0)
      break;
    done += n + 1;
    ++refused;
  }
  return refused;
}

uint32_t max_entries(int map_fd) {
  bpf_map_info info{};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(map_fd, &info, &len) == 0 ? info.max_entries : 0;
}

}  // namespace

std::size_t TemplateMaps::write(const sipvsd_fp_key* keys, const sipvsd_fp_target* targets, std::size_t count) const {
  return write_batch(templates_fd_, keys, sizeof *keys, targets, count);
}

std::size_t TemplateMaps::write(const sipvsd_fp_short_key* keys, const sipvsd_fp_target* targets,
                                std::size_t count) const {
  return write_batch(templates_short_fd_, keys, sizeof *keys, targets, count);
}

std::size_t TemplateMaps::write_one(const sipvsd_fp_key& key, const sipvsd_fp_target& target) const {
  if (!sipvsd_fp_key_is_short(&key)) return write(&key, &target, 1);
  const sipvsd_fp_short_key short_form = short_key(key);
  return write(&short_form, &target, 1);
}

// The short map reads only its key's size from the whole key.
std::optional<sipvsd_fp_target> TemplateMaps::find(const sipvsd_fp_key& key) const {
  sipvsd_fp_target target{};
  if (bpf_map_lookup_elem(map_of(key), &key, &target) != 0) return std::nullopt;
  return target;
}

void TemplateMaps::erase(const sipvsd_fp_key& key) const { bpf_map_delete_elem(map_of(key), &key); }

// Keys first, then the moves: a walk that deletes as it goes starts over
// at each deleted key. The walk is bounded by the map's size, as the
// program may run meanwhile (it adds and deletes nothing).
std::size_t TemplateMaps::move_short_copies() const {
  std::vector<sipvsd_fp_key> misplaced;
  sipvsd_fp_key at{}, next{};
  const uint32_t limit = max_entries(templates_fd_);
  for (uint32_t i = 0; i < limit && bpf_map_get_next_key(templates_fd_, i == 0 ? nullptr : &at, &next) == 0; ++i) {
    if (sipvsd_fp_key_is_short(&next)) misplaced.push_back(next);
    at = next;
  }
  std::size_t moved = 0;
  for (const sipvsd_fp_key& key : misplaced) {
    sipvsd_fp_target target{};
    if (bpf_map_lookup_elem(templates_fd_, &key, &target) != 0) continue;
    const sipvsd_fp_short_key to = short_key(key);
    if (bpf_map_update_elem(templates_short_fd_, &to, &target, BPF_NOEXIST) == 0) ++moved;
    bpf_map_delete_elem(templates_fd_, &key);  // moved, or the short map has it already (or is full: NFQUEUE decides)
  }
  return moved;
}

sipvsd_fp_short_key short_key(const sipvsd_fp_key& key) {
  sipvsd_fp_short_key k;
  std::memcpy(&k, &key, sizeof k);
  return k;
}

}  // namespace sipvsd
