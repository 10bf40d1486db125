#include <doctest/doctest.h>

#include <array>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

namespace {

struct Counters {
  std::array<std::atomic<int64_t>, 4> live{};
  void set(std::array<int64_t, 4> v) {
    for (std::size_t i = 0; i < v.size(); ++i) live[i] = v[i];
  }
};

}  // namespace

TEST_CASE("lc: fewest live templates, first one on ties") {
  Counters c;
  auto s = make_scheduler("lc", {server(1, 1, true, &c.live[0]), server(2, 1, true, &c.live[1]),
                                 server(3, 1, true, &c.live[2])});
  REQUIRE(s);
  CHECK(s->name() == "lc");
  c.set({5, 3, 3, 0});
  CHECK(s->pick({}) == 1u);
  c.live[1] = 4;
  CHECK(s->pick({}) == 2u);
  c.live[0] = 2;
  CHECK(s->pick({}) == 0u);
}

TEST_CASE("lc: follows the counters as templates are added") {
  Counters c;
  auto s = make_scheduler("lc", {server(1, 1, true, &c.live[0]), server(2, 1, true, &c.live[1]),
                                 server(3, 1, true, &c.live[2])});
  c.set({0, 2, 0, 0});
  std::vector<std::size_t> got;
  for (int i = 0; i < 7; ++i) {
    const std::size_t p = s->pick({}).value();
    got.push_back(p);
    ++c.live[p];
  }
  CHECK(got == std::vector<std::size_t>{0, 2, 0, 2, 0, 1, 2});
}

TEST_CASE("lc: no counter counts as 0; quiesced and down servers are skipped") {
  Counters c;
  c.set({7, 0, 0, 9});
  auto s = make_scheduler("lc", {server(1, 1, true, &c.live[0]), server(2, 0, true, &c.live[1]),
                                 server(3, 1, false, &c.live[2]), server(4, 1, true, &c.live[3]),
                                 server(5, 1, true, nullptr)});
  CHECK(s->pick({}) == 4u);
  CHECK_FALSE(make_scheduler("lc", {server(1, 0), server(2, 1, false)})->pick({}));
  CHECK_FALSE(make_scheduler("lc", {})->pick({}));
}

TEST_CASE("wlc: smallest live/weight, first one on ties") {
  Counters c;
  auto s = make_scheduler("wlc", {server(1, 1, true, &c.live[0]), server(2, 2, true, &c.live[1])});
  REQUIRE(s);
  CHECK(s->name() == "wlc");
  c.set({1, 2, 0, 0});  // 1/1 == 2/2
  CHECK(s->pick({}) == 0u);
  c.set({1, 1, 0, 0});  // 1/1 > 1/2
  CHECK(s->pick({}) == 1u);
  c.set({1, 3, 0, 0});  // 1/1 < 3/2
  CHECK(s->pick({}) == 0u);
}

TEST_CASE("wlc: templates end up in proportion to the weights") {
  Counters c;
  auto s = make_scheduler("wlc", {server(1, 1, true, &c.live[0]), server(2, 2, true, &c.live[1]),
                                  server(3, 3, true, &c.live[2])});
  for (int i = 0; i < 600; ++i) ++c.live[s->pick({}).value()];
  CHECK(c.live[0] == 100);
  CHECK(c.live[1] == 200);
  CHECK(c.live[2] == 300);
}

TEST_CASE("wlc: no overflow for the largest counters and weights") {
  Counters c;
  // (2^32-1)/1 > (2^32-1)/(2^32-1); the cross product (2^32-1)^2 needs all 64 bits.
  c.set({UINT32_MAX, UINT32_MAX, 0, 0});
  auto s = make_scheduler("wlc", {server(1, 1, true, &c.live[0]), server(2, UINT32_MAX, true, &c.live[1])});
  CHECK(s->pick({}) == 1u);
}

TEST_CASE("wlc: quiesced and down servers are skipped; none available -> nullopt") {
  Counters c;
  c.set({9, 0, 0, 0});
  auto s = make_scheduler("wlc", {server(1, 1, true, &c.live[0]), server(2, 0, true, &c.live[1]),
                                  server(3, 4, false, &c.live[2])});
  CHECK(s->pick({}) == 0u);
  CHECK_FALSE(make_scheduler("wlc", {server(1, 0), server(2, 1, false)})->pick({}));
  CHECK_FALSE(make_scheduler("wlc", {})->pick({}));
}
