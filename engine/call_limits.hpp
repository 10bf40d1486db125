#pragma once
// A real server's call limits, as IPVS's connection thresholds (ipvsadm -x
// and -y): once its live templates (its calls in progress) reach max_calls
// it is overloaded and gets no new calls; it takes them again once below
// the lower threshold. The gap between the two keeps a server at its limit
// from flapping in and out with every call that ends.
#include <cstdint>

#include "engine/engine_config.hpp"

namespace sipvs {

struct CallLimits {
  uint32_t max = 0;  // 0: no limit
  uint32_t low = 0;  // overloaded until its live templates are fewer

  // min_calls, or without one what ip_vs_unbind_dest takes: an overload
  // ends when live * 4 < max * 3, i.e. below 3/4 of max rounded up.
  static CallLimits of(const RealServerConfig& r) {
    const uint32_t low = r.min_calls != 0 ? r.min_calls : static_cast<uint32_t>((uint64_t{r.max_calls} * 3 + 3) / 4);
    return {r.max_calls, low};
  }

  // Both in one word, so that whoever reads them gets a pair that belongs together.
  uint64_t packed() const { return max | uint64_t{low} << 32; }
  static CallLimits unpacked(uint64_t word) { return {static_cast<uint32_t>(word), static_cast<uint32_t>(word >> 32)}; }

  // The overload flag with `live` templates, that was `was`: set at max, as
  // ip_vs_bind_dest does; cleared below the lower threshold, as
  // ip_vs_unbind_dest does; in between it stays as it was.
  bool overloaded(int64_t live, bool was) const {
    if (max == 0) return false;
    if (live >= max) return true;
    if (live < low) return false;
    return was;
  }
};

}  // namespace sipvs
