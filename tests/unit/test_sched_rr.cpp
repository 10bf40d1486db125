#include <doctest/doctest.h>

#include <thread>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

TEST_CASE("rr: cycles over the available servers in order") {
  // 1 is quiesced and 3 is down.
  auto s = make_scheduler("rr", {server(1), server(2, 0), server(3), server(4, 1, false), server(5)});
  REQUIRE(s);
  CHECK(s->name() == "rr");
  std::vector<std::size_t> got;
  for (int i = 0; i < 9; ++i) got.push_back(s->pick({}).value());
  CHECK(got == std::vector<std::size_t>{0, 2, 4, 0, 2, 4, 0, 2, 4});
}

TEST_CASE("rr: nullopt when no server is available") {
  CHECK_FALSE(make_scheduler("rr", {})->pick({}));
  CHECK_FALSE(make_scheduler("rr", {server(1, 0), server(2, 3, false)})->pick({}));
}

// Each thread counts its own picks; the sums are exact only if no pick of the
// shared counter is lost or duplicated.
static std::vector<std::size_t> concurrent_counts(Scheduler& s, std::size_t n) {
  constexpr int kThreads = 4, kPicks = 100'000;
  std::vector<std::vector<std::size_t>> per_thread(kThreads, std::vector<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&s, &counts = per_thread[t]] {
      for (int i = 0; i < kPicks; ++i) ++counts[s.pick({}).value()];
    });
  for (auto& t : threads) t.join();
  std::vector<std::size_t> total(n);
  for (const auto& counts : per_thread)
    for (std::size_t i = 0; i < n; ++i) total[i] += counts[i];
  return total;
}

TEST_CASE("rr and wrr: 4 threads x 100k picks give an exact distribution") {
  auto rr = make_scheduler("rr", equal_servers(4));
  CHECK(concurrent_counts(*rr, 4) == std::vector<std::size_t>{100'000, 100'000, 100'000, 100'000});
  auto wrr = make_scheduler("wrr", {server(1, 1), server(2, 1), server(3, 2)});
  CHECK(concurrent_counts(*wrr, 3) == std::vector<std::size_t>{100'000, 100'000, 200'000});
}

// The scheduler that replaces `before` after a change to the servers.
static std::unique_ptr<Scheduler> rebuilt(const Scheduler& before, std::vector<SchedServer> servers) {
  auto s = make_scheduler(before.name(), std::move(servers));
  s->continue_from(before);
  return s;
}

TEST_CASE("rr: a rebuilt scheduler continues after the server picked last, as ip_vs_rr's cursor") {
  auto s = make_scheduler("rr", equal_servers(4));
  CHECK(s->pick({}) == 0u);
  CHECK(s->pick({}) == 1u);
  // Same servers: the rotation goes on.
  auto same = rebuilt(*s, equal_servers(4));
  CHECK(same->pick({}) == 2u);
  // The next one goes down: skipped, the one after it follows.
  auto down = rebuilt(*same, {server(1), server(2), server(3), server(4, 1, false)});
  CHECK(down->pick({}) == 0u);
  CHECK(down->pick({}) == 1u);
  // The server picked last is removed: the cursor falls back to the one
  // before it, so the one after it is next; indices moved with the removal.
  auto removed = rebuilt(*down, {server(1), server(3), server(4)});
  CHECK(removed->pick({}) == 1u);  // server(3)
  // A server added before the cursor does not move it.
  auto added = rebuilt(*removed, {server(9), server(1), server(3), server(4)});
  CHECK(added->pick({}) == 3u);  // server(4)
  CHECK(added->pick({}) == 0u);  // then the new one
  // Nothing to take up from another scheduler, or from one with no server.
  auto from_wrr = make_scheduler("rr", equal_servers(3));
  from_wrr->continue_from(*make_scheduler("wrr", equal_servers(3)));
  CHECK(from_wrr->pick({}) == 0u);
  CHECK(rebuilt(*make_scheduler("rr", {}), equal_servers(3))->pick({}) == 0u);
}
