#pragma once
// The answer to one queued packet: the engine's decision turned into a
// netfilter verdict under the data-path policy. It is the whole per-packet
// step of a queue worker but the netlink around it, so that it can be tested
// without a kernel (an allocation failing inside the engine included).
#include <cstdint>
#include <span>

#include "daemon/datapath/sender_map.hpp"
#include "engine/engine.hpp"

namespace sipvsd {

// What the control plane may change while the workers run besides the
// engine's services: the mark bits sipvsd owns and the policy for unplaced
// packets. It travels packed in the engine's snapshot (EngineConfig::
// caller_data), so a batch always meets the mask of the marks it hands out.
struct DataPathPolicy {
  uint32_t mark_mask = 0xffffffff;
  bool drop_unplaced = false;

  // The mask is stored inverted so that the zero word is the default policy.
  static constexpr uint64_t pack(DataPathPolicy p) {
    return uint64_t{~p.mark_mask} | uint64_t{p.drop_unplaced} << 32;
  }
  static constexpr DataPathPolicy unpack(uint64_t w) { return {~static_cast<uint32_t>(w), (w >> 32) != 0}; }
};

struct PacketVerdict {
  enum class Kind : uint8_t {
    placed,
    unplaced_accepted,
    unplaced_dropped,
    outgoing,  // a real server's message out: accepted as it came, whatever the policy
  };
  Kind kind = Kind::unplaced_accepted;
  uint32_t mark = 0;  // the packet's mark on the way out (as it came unless placed)
  sipvs::Decision decision;
  // decide() threw (e.g. bad_alloc growing the template table): the packet
  // lost its placement, not the process. The message is copied, not
  // allocated, since the failure may be that memory ran out; it is written
  // only then, so that no packet pays for clearing it.
  bool decide_failed = false;
  char decide_error[96];  // meaningful only when decide_failed
};

// A packet that is not placed is accepted with its mark as it came, or
// dropped, as the policy says.
constexpr PacketVerdict::Kind unplaced_kind(DataPathPolicy policy) {
  return policy.drop_unplaced ? PacketVerdict::Kind::unplaced_dropped : PacketVerdict::Kind::unplaced_accepted;
}

// The verdict for one queued packet. A message a real server sends out
// (Outcome::outgoing) is learned from: `lladdr`, the frame's source
// link-layer address, names its host through `senders`.
PacketVerdict packet_verdict(sipvs::Engine::Decider& decider, std::span<const uint8_t> packet, uint32_t packet_mark,
                             sipvs::Seconds now, DataPathPolicy policy, const SenderMap& senders,
                             std::span<const uint8_t> lladdr);

}  // namespace sipvsd
