#pragma once
// `sipvsd replay`: runs the packets of a capture through the engine and prints
// the decision sipvsd would make for each, so an operator can check a
// configuration against real traffic before going live.
#include <cstdio>
#include <string>

#include "engine/engine.hpp"

namespace sipvsd {

struct ReplaySummary {
  uint64_t frames = 0;      // frames in the capture
  uint64_t ip_packets = 0;  // IP packets decided (after reassembly)
  uint64_t placed = 0;
  uint64_t skipped = 0;     // not IP, or a link type we do not read
  uint64_t fragments = 0;   // fragments held for reassembly
  uint64_t reassembled = 0; // datagrams reassembled from them
};

// Reads a pcap/pcapng file (link types Ethernet, Linux cooked SLL and SLL2,
// raw IP), reassembles IP fragments as the kernel's defragmentation would
// before NFQUEUE, decides each IP packet with `engine` and writes one line per
// packet to `out`. The engine's clock follows the capture's timestamps.
// Throws std::runtime_error if the file cannot be read.
ReplaySummary replay_capture(sipvs::Engine& engine, const std::string& path, std::FILE* out);

}  // namespace sipvsd
