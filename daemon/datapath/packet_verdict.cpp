#include "daemon/datapath/packet_verdict.hpp"

#include <cstring>
#include <exception>

namespace sipvsd {

PacketVerdict packet_verdict(sipvs::Engine::Decider& decider, std::span<const uint8_t> packet, uint32_t packet_mark,
                             sipvs::Seconds now, DataPathPolicy policy, const SenderMap& senders,
                             std::span<const uint8_t> lladdr) {
  PacketVerdict v;
  v.mark = packet_mark;
  try {
    v.decision = decider.decide(packet, packet_mark, now);
    if (v.decision.outcome == sipvs::Outcome::outgoing) {
      v.kind = PacketVerdict::Kind::outgoing;
      decider.learn(v.decision, senders.addresses(lladdr), now);
      return v;
    }
  } catch (const std::exception& e) {
    v.decision = {};
    v.decide_failed = true;
    std::strncpy(v.decide_error, e.what(), sizeof v.decide_error - 1);
    v.decide_error[sizeof v.decide_error - 1] = '\0';
    if (v.kind == PacketVerdict::Kind::outgoing) return v;  // learning failed: the message still leaves
  }
  if (v.decision.outcome == sipvs::Outcome::placed) {
    // Only the bits under the mask are ours; other users of the mark keep theirs.
    v.kind = PacketVerdict::Kind::placed;
    v.mark = (packet_mark & ~policy.mark_mask) | (v.decision.mark & policy.mark_mask);
  } else {
    v.kind = unplaced_kind(policy);
  }
  return v;
}

}  // namespace sipvsd
