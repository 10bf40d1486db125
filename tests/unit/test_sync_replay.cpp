// ReplayWindow: each datagram taken once, late ones within the window still
// taken, an earlier start of the sender refused, losses counted.
#include <doctest/doctest.h>

#include "sync/replay_window.hpp"

using sipvs::sync::ReplayWindow;
using Verdict = ReplayWindow::Verdict;

TEST_CASE("in order, each once") {
  ReplayWindow w;
  for (uint64_t seq = 1; seq <= 200; ++seq) {
    REQUIRE(w.check(5, seq) == Verdict::fresh);
    CHECK(w.accept(5, seq) == 0);
    CHECK(w.check(5, seq) == Verdict::replayed);
  }
  CHECK(w.check(5, 0) == Verdict::replayed);
  CHECK(w.check(5, 201) == Verdict::fresh);
}

TEST_CASE("gaps are counted; late datagrams in the window are taken once") {
  ReplayWindow w;
  CHECK(w.accept(5, 1) == 0);
  CHECK(w.accept(5, 5) == 3);  // 2, 3, 4 missing
  CHECK(w.check(5, 3) == Verdict::fresh);
  CHECK(w.accept(5, 3) == 0);
  CHECK(w.check(5, 3) == Verdict::replayed);
  CHECK(w.check(5, 2) == Verdict::fresh);
  CHECK(w.accept(5, 5 + ReplayWindow::kSize) == ReplayWindow::kSize - 1);
  CHECK(w.check(5, 5) == Verdict::replayed);  // fell out of the window: too old to tell
  CHECK(w.check(5, 6) == Verdict::fresh);
  CHECK(w.accept(5, 1000) == 1000 - 5 - ReplayWindow::kSize - 1);
  CHECK(w.check(5, 1000 - ReplayWindow::kSize + 1) == Verdict::fresh);
  CHECK(w.check(5, 1000 - ReplayWindow::kSize) == Verdict::replayed);
}

TEST_CASE("a restart is a new epoch; an earlier one is refused") {
  ReplayWindow w;
  w.accept(5, 100);
  CHECK(w.check(6, 1) == Verdict::fresh);
  CHECK(w.accept(6, 1) == 0);
  CHECK(w.epoch() == 6);
  CHECK(w.highest() == 1);
  CHECK(w.check(5, 101) == Verdict::stale_epoch);
  CHECK(w.check(6, 1) == Verdict::replayed);
}
