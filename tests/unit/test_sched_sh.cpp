#include <doctest/doctest.h>

#include "test_sched_util.hpp"

using namespace sipvs;
using namespace sipvs::test;

namespace {

std::vector<IpAddress> random_clients(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<IpAddress> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(random_v4(rng));
  return out;
}

std::vector<std::size_t> assign(Scheduler& s, const std::vector<IpAddress>& clients) {
  std::vector<std::size_t> out;
  for (const IpAddress& c : clients) out.push_back(s.pick({c, 5060, {}}).value());
  return out;
}

}  // namespace

TEST_CASE("sh: a client always gets the same server, in any director") {
  const auto clients = random_clients(10'000, 1);
  auto a = make_scheduler("sh", equal_servers(4));
  auto b = make_scheduler("sh", equal_servers(4));
  REQUIRE(a);
  CHECK(a->name() == "sh");
  const auto first = assign(*a, clients);
  CHECK(assign(*a, clients) == first);
  CHECK(assign(*b, clients) == first);
  // The port and the Call-ID play no part.
  CHECK(a->pick({clients[0], 1, "some-call-id"}) == first[0]);

  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  const SchedRequest r6{IpAddress::v6(v6), 5060, {}};
  CHECK(a->pick(r6) == b->pick(r6));
}

TEST_CASE("sh: shares follow the weights") {
  // 256 buckets for weights 1:3 -> 65:191 (one each, the rest by weight).
  auto s = make_scheduler("sh", {server(1, 1), server(2, 3)});
  std::vector<std::size_t> counts(2);
  for (std::size_t p : assign(*s, random_clients(100'000, 2))) ++counts[p];
  const double share = counts[0] / 100'000.0;
  MESSAGE("sh weight-1 share of 1:3 = " << share);
  CHECK(share == doctest::Approx(65.0 / 256).epsilon(0.08));
}

TEST_CASE("sh: a down server's clients move and spread; the others stay") {
  const auto clients = random_clients(40'000, 3);
  auto servers = equal_servers(4);
  const auto before = assign(*make_scheduler("sh", servers), clients);
  servers[1].up = false;
  const auto after = assign(*make_scheduler("sh", servers), clients);

  std::size_t stayed_moved = 0, on_down = 0;
  std::vector<std::size_t> moved_to(4);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (before[i] == 1) {
      ++on_down;
      ++moved_to[after[i]];
    } else if (after[i] != before[i]) {
      ++stayed_moved;
    }
  }
  CHECK(stayed_moved == 0);
  CHECK(moved_to[1] == 0);
  MESSAGE("sh: " << on_down << " clients of the down server went to " << moved_to[0] << "/"
                 << moved_to[2] << "/" << moved_to[3]);
  for (std::size_t to : {0, 2, 3}) CHECK(moved_to[to] == doctest::Approx(on_down / 3.0).epsilon(0.10));
}

TEST_CASE("sh: quiesced and down servers are never picked; none available -> nullopt") {
  const auto clients = random_clients(2'000, 4);
  auto s = make_scheduler("sh", {server(1, 0), server(2, 1, false), server(3, 2), server(4, 9, false)});
  for (std::size_t p : assign(*s, clients)) CHECK(p == 2);
  const SchedRequest r{clients[0], 5060, {}};
  CHECK_FALSE(make_scheduler("sh", {server(1, 0), server(2, 1, false)})->pick(r));
  CHECK_FALSE(make_scheduler("sh", {})->pick(r));
}
