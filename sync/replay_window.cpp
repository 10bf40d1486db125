#include "sync/replay_window.hpp"

namespace sipvs::sync {

ReplayWindow::Verdict ReplayWindow::check(uint64_t epoch, uint64_t seq) const {
  if (epoch != epoch_) return epoch > epoch_ ? Verdict::fresh : Verdict::stale_epoch;
  if (seq == 0) return Verdict::replayed;
  if (seq > highest_) return Verdict::fresh;
  const uint64_t behind = highest_ - seq;
  if (behind >= kSize) return Verdict::replayed;
  return (seen_ >> behind) & 1 ? Verdict::replayed : Verdict::fresh;
}

uint64_t ReplayWindow::accept(uint64_t epoch, uint64_t seq) {
  if (epoch != epoch_) {
    epoch_ = epoch;
    highest_ = 0;
    seen_ = 0;
  }
  if (seq <= highest_) {
    seen_ |= uint64_t{1} << (highest_ - seq);
    return 0;
  }
  const uint64_t skipped = seq - highest_ - 1;
  seen_ = skipped + 1 >= kSize ? 1 : (seen_ << (skipped + 1)) | 1;
  highest_ = seq;
  return skipped;
}

}  // namespace sipvs::sync
