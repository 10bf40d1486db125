#include <doctest/doctest.h>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

static std::vector<std::size_t> first_picks(Scheduler& s, int n) {
  std::vector<std::size_t> got;
  for (int i = 0; i < n; ++i) got.push_back(s.pick({}).value());
  return got;
}

// IPVS starts with cw at the largest weight and lowers it by the gcd at every
// wrap: cw=4 picks a; cw=3 a b; cw=2 a b c; cw=1 a b c.
TEST_CASE("wrr: IPVS order for weights 4,3,2 is a a b a b c a b c") {
  auto s = make_scheduler("wrr", {server(1, 4), server(2, 3), server(3, 2)});
  REQUIRE(s);
  CHECK(s->name() == "wrr");
  CHECK(first_picks(*s, 18) ==
        std::vector<std::size_t>{0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2});
}

TEST_CASE("wrr: weights are divided by their gcd") {
  // 2,4,6 behaves as 1,2,3: cw=3 c; cw=2 b c; cw=1 a b c.
  auto s = make_scheduler("wrr", {server(1, 2), server(2, 4), server(3, 6)});
  CHECK(first_picks(*s, 12) == std::vector<std::size_t>{2, 1, 2, 0, 1, 2, 2, 1, 2, 0, 1, 2});
}

TEST_CASE("wrr: 1:1:2 gives exactly 25/25/50 % over full cycles") {
  auto s = make_scheduler("wrr", {server(1, 1), server(2, 1), server(3, 2)});
  CHECK(pick_counts(*s, 3, 4000) == std::vector<std::size_t>{1000, 1000, 2000});
}

TEST_CASE("wrr: quiesced and down servers are never picked") {
  auto s = make_scheduler("wrr", {server(1, 5, false), server(2, 0), server(3, 1), server(4, 3)});
  CHECK(pick_counts(*s, 4, 400) == std::vector<std::size_t>{0, 0, 100, 300});
  CHECK_FALSE(make_scheduler("wrr", {server(1, 5, false), server(2, 0)})->pick({}));
  CHECK_FALSE(make_scheduler("wrr", {})->pick({}));
}

TEST_CASE("wrr: a period longer than 65536 is scaled down, every server kept") {
  // sum(w/gcd) = 2^32: scaled to 65533:1 (budget 65536 - 2 servers), so the
  // period is 65534 picks and the small server gets exactly one of them.
  auto s = make_scheduler("wrr", {server(1, UINT32_MAX), server(2, 1)});
  CHECK(pick_counts(*s, 2, 3 * 65534) == std::vector<std::size_t>{3 * 65533, 3});
}

static std::unique_ptr<Scheduler> rebuilt(const Scheduler& before, std::vector<SchedServer> servers) {
  auto s = make_scheduler(before.name(), std::move(servers));
  s->continue_from(before);
  return s;
}

TEST_CASE("wrr: a rebuilt scheduler keeps its position, or its round when the rotation changed") {
  auto s = make_scheduler("wrr", {server(1, 4), server(2, 3), server(3, 2)});
  CHECK(first_picks(*s, 4) == std::vector<std::size_t>{0, 0, 1, 0});  // a a b | a
  // Same rotation: the next picks are the rest of the period.
  auto same = rebuilt(*s, {server(1, 4), server(2, 3), server(3, 2)});
  CHECK(first_picks(*same, 5) == std::vector<std::size_t>{1, 2, 0, 1, 2});
  CHECK(first_picks(*same, 2) == std::vector<std::size_t>{0, 0});  // next period: cw=4, 3
  // c goes down in round cw=3 (weights 4,3: a | a b | a b | a b): that round
  // starts again from the first server.
  auto down = rebuilt(*same, {server(1, 4), server(2, 3), server(3, 2, false)});
  CHECK(first_picks(*down, 6) == std::vector<std::size_t>{0, 1, 0, 1, 0, 1});
  CHECK(first_picks(*down, 3) == std::vector<std::size_t>{0, 0, 1});
  // The round is kept as a weight. a=40, b=30 go a | a b | a b | a b, cw
  // stepping by the gcd 10; after a a, cw is 30. In a=60, b=45, c=30 (steps of
  // 15: a | a b | a b c | a b c) that is the round of cw 30, the third.
  auto tens = make_scheduler("wrr", {server(1, 40), server(2, 30)});
  CHECK(first_picks(*tens, 2) == std::vector<std::size_t>{0, 0});
  auto fifteens = rebuilt(*tens, {server(1, 60), server(2, 45), server(3, 30)});
  CHECK(first_picks(*fifteens, 9) == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0, 0, 1});
}
