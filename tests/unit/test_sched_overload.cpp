// A server at its max_calls (its overload flag set) is passed over by every
// scheduler for the next candidate. The flag is read at each pick: the
// scheduler is built once and sees it come and go.
#include <doctest/doctest.h>

#include <array>
#include <atomic>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

namespace {

// Servers 198.18.1.1... with these weights, each with its own overload flag.
struct Flagged {
  explicit Flagged(const std::vector<uint32_t>& weights) {
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const uint8_t address[4] = {198, 18, 1, static_cast<uint8_t>(i + 1)};
      SchedServer s{IpAddress::v4(address), 5060, weights[i]};
      s.overloaded = &full.at(i);
      servers.push_back(s);
    }
  }
  std::array<std::atomic<bool>, 8> full{};
  std::vector<SchedServer> servers;
};

// Requests from random clients with random Call-IDs (kept by `ids`).
std::vector<SchedRequest> requests(const std::vector<std::string>& ids, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SchedRequest> out;
  for (const std::string& id : ids) out.push_back({random_v4(rng), 5060, id});
  return out;
}

std::vector<std::optional<std::size_t>> assign(Scheduler& s, const std::vector<SchedRequest>& rs) {
  std::vector<std::optional<std::size_t>> out;
  for (const SchedRequest& r : rs) out.push_back(s.pick(r));
  return out;
}

}  // namespace

TEST_CASE("every scheduler passes over a full server, and picks none when all are full") {
  const auto ids = random_call_ids(3000, 20);
  const auto rs = requests(ids, 21);
  for (std::string_view name : scheduler_names()) {
    CAPTURE(name);
    Flagged f({1, 2, 3});
    auto s = make_scheduler(name, f.servers);
    f.full[1] = true;
    for (const auto& p : assign(*s, rs)) {
      REQUIRE(p);
      CHECK(*p != 1);
    }
    for (auto& flag : f.full) flag = true;
    for (const auto& p : assign(*s, rs)) CHECK_FALSE(p);
    f.full[1] = false;
    for (const auto& p : assign(*s, rs)) CHECK(p == 1u);
  }
}

TEST_CASE("rr: a full server's turns go to the others in order, as ip_vs_rr's cursor moves past it") {
  Flagged f({1, 1, 1, 1});
  auto s = make_scheduler("rr", f.servers);
  f.full[0] = true;
  std::vector<std::size_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(s->pick({}).value());
  CHECK(got == std::vector<std::size_t>{1, 2, 3, 1, 2, 3});
  CHECK(pick_counts(*s, 4, 3000) == std::vector<std::size_t>{0, 1000, 1000, 1000});
}

TEST_CASE("wrr: a full server is passed over for the next in IPVS's order; the others keep their weights") {
  // a a b a b c a b c with a full: b b c b c, again and again.
  Flagged f({4, 3, 2});
  auto s = make_scheduler("wrr", f.servers);
  f.full[0] = true;
  std::vector<std::size_t> got;
  for (int i = 0; i < 10; ++i) got.push_back(s->pick({}).value());
  CHECK(got == std::vector<std::size_t>{1, 1, 2, 1, 2, 1, 1, 2, 1, 2});
  CHECK(pick_counts(*s, 3, 5000) == std::vector<std::size_t>{0, 3000, 2000});
}

TEST_CASE("wrr: only the lightest server left takes every call") {
  Flagged f({60000, 1});
  auto s = make_scheduler("wrr", f.servers);
  f.full[0] = true;
  CHECK(pick_counts(*s, 2, 100) == std::vector<std::size_t>{0, 100});
}

TEST_CASE("lc, wlc: a full server is passed over, even with the fewest live templates") {
  std::array<std::atomic<int64_t>, 3> live{};
  live[0] = 0;
  live[1] = 5;
  live[2] = 9;
  for (const char* name : {"lc", "wlc"}) {
    CAPTURE(name);
    Flagged f({1, 1, 1});
    for (std::size_t i = 0; i < 3; ++i) f.servers[i].live_templates = &live[i];
    auto s = make_scheduler(name, f.servers);
    CHECK(s->pick({}) == 0u);
    f.full[0] = true;
    CHECK(s->pick({}) == 1u);
  }
}

TEST_CASE("sh, mh: the calls of a full server spread over the others; every other call keeps its server") {
  const auto ids = random_call_ids(40'000, 22);
  const auto rs = requests(ids, 23);
  for (const char* name : {"sh", "mh"}) {
    CAPTURE(name);
    Flagged f({1, 1, 1, 1});
    auto s = make_scheduler(name, f.servers);
    const auto before = assign(*s, rs);
    f.full[1] = true;
    const auto after = assign(*s, rs);
    std::size_t moved = 0, on_full = 0;
    std::vector<std::size_t> moved_to(4);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (before[i] == 1u) {
        ++on_full;
        ++moved_to.at(after[i].value());
      } else if (after[i] != before[i]) {
        ++moved;
      }
    }
    CHECK(moved == 0);
    CHECK(moved_to[1] == 0);
    for (std::size_t to : {0, 2, 3}) CHECK(moved_to[to] == doctest::Approx(on_full / 3.0).epsilon(0.15));
    f.full[1] = false;
    CHECK(assign(*s, rs) == before);
  }
}
