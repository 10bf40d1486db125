#include "daemon/config/daemon_config.hpp"

#include <cstdio>

namespace sipvsd {

std::string mark_to_string(uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", mark);
  return buf;
}

std::string_view to_string(DaemonConfig::Unplaced u) {
  return u == DaemonConfig::Unplaced::drop ? "drop" : "accept";
}

std::optional<DaemonConfig::Unplaced> unplaced_from_string(std::string_view text) {
  if (text == "accept") return DaemonConfig::Unplaced::accept;
  if (text == "drop") return DaemonConfig::Unplaced::drop;
  return std::nullopt;
}

}  // namespace sipvsd
