#pragma once
// Replay protection and loss detection for one peer, as IPsec's anti-replay
// window (RFC 4303 §3.4.3): a datagram is new if its sender's epoch (the time
// it started) is newer than any seen, or the epoch is the current one and its
// sequence number is above the window or a hole in it. Checked only after
// the MAC: a forged datagram never moves the window.
#include <cstdint>

namespace sipvs::sync {

class ReplayWindow {
 public:
  static constexpr uint64_t kSize = 64;  // sequence numbers remembered below the highest

  enum class Verdict : uint8_t {
    fresh,        // new: install it, then accept()
    replayed,     // seen already, or too old to tell
    stale_epoch,  // from an earlier start of the sender
  };
  Verdict check(uint64_t epoch, uint64_t seq) const;

  // Records a fresh datagram. Returns how many sequence numbers it skipped
  // (datagrams lost or late); a new epoch starts the count afresh.
  uint64_t accept(uint64_t epoch, uint64_t seq);

  uint64_t epoch() const { return epoch_; }
  uint64_t highest() const { return highest_; }

 private:
  uint64_t epoch_ = 0;
  uint64_t highest_ = 0;  // 0: nothing of this epoch yet (sequence numbers start at 1)
  uint64_t seen_ = 0;     // bit i: highest_ - i was seen
};

}  // namespace sipvs::sync
