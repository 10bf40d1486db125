#pragma once
// The kernel's own counters of each bound NFQUEUE queue, from
// /proc/net/netfilter/nfnetlink_queue (the reader's network namespace; one
// line per queue, as nfnetlink_queue.c's seq_show prints it):
//   queue_num peer_portid queue_total copy_mode copy_range queue_dropped queue_user_dropped id_sequence 1
// They say what sipvsd cannot count itself: NETLINK_NO_ENOBUFS hides socket
// overflows from it, and packets left without a verdict stay in the kernel.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sipvsd {

inline constexpr const char* kKernelQueueStatsPath = "/proc/net/netfilter/nfnetlink_queue";

struct KernelQueueStats {
  uint16_t queue = 0;
  uint32_t portid = 0;        // the netlink socket bound to the queue
  uint32_t queue_total = 0;   // packets queued now, waiting for a verdict
  uint32_t queue_dropped = 0;  // dropped because the queue was full (a fail-open queue accepts them instead)
  uint32_t user_dropped = 0;   // dropped because the socket could not take them (fail-open: accepted instead)
  uint32_t id_sequence = 0;    // the last packet id given: packets queued since the bind (wraps at 2^32)
};

// One entry per well-formed line; other lines are skipped.
inline std::vector<KernelQueueStats> parse_kernel_queue_stats(std::string_view text) {
  std::vector<KernelQueueStats> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    unsigned long queue = 0, portid = 0, total = 0, copy_mode = 0, copy_range = 0, dropped = 0, user_dropped = 0,
                  id_sequence = 0, one = 0;
    if (!(fields >> queue >> portid >> total >> copy_mode >> copy_range >> dropped >> user_dropped >> id_sequence >>
          one) ||
        queue > 0xffff || std::max({portid, total, dropped, user_dropped, id_sequence}) > 0xffffffffUL)
      continue;
    out.push_back({static_cast<uint16_t>(queue), static_cast<uint32_t>(portid), static_cast<uint32_t>(total),
                   static_cast<uint32_t>(dropped), static_cast<uint32_t>(user_dropped),
                   static_cast<uint32_t>(id_sequence)});
  }
  return out;
}

// Empty if the file cannot be read (no queue bound yet: the module may not even be loaded).
inline std::vector<KernelQueueStats> read_kernel_queue_stats(const char* path = kKernelQueueStatsPath) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_kernel_queue_stats(text.str());
}

}  // namespace sipvsd
