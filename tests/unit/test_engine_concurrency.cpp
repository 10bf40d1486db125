#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

// One SIP service at 198.18.2.100:5060 (Call-ID persistence, whole-client
// netmask) with `servers` real servers 198.18.1.1.. marked 1...
EngineConfig sip_service(const char* scheduler, uint32_t servers) {
  ServiceConfig s;
  s.name = "sip";
  s.vip = *IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = scheduler;
  s.persistence_timeout = 300;
  s.netmask = 0;
  s.pe = "sip";
  for (uint32_t i = 1; i <= servers; ++i) {
    RealServerConfig r;
    r.address = *IpAddress::parse("198.18.1." + std::to_string(i));
    r.mark = i;
    s.servers.push_back(r);
  }
  EngineConfig c;
  c.services.push_back(s);
  return c;
}

}  // namespace

// Several workers decide for the same and for different Call-IDs at once,
// while the control plane changes weights: every packet of one Call-ID must
// get the same mark. Run under ThreadSanitizer in CI (-DSIPVSD_TSAN=ON).
TEST_CASE("concurrent workers agree on every Call-ID's server") {
  const EngineConfig c = sip_service("wlc", 4);
  Engine engine(c);

  constexpr int kThreads = 4, kCalls = 2000, kRounds = 5;
  std::vector<std::vector<uint8_t>> packets;
  for (int i = 0; i < kCalls; ++i)
    packets.push_back(test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060,
                                       test::invite("shared-" + std::to_string(i) + "@198.18.0.1")));
  std::vector<std::vector<uint32_t>> seen(kThreads, std::vector<uint32_t>(kCalls, 0));
  std::atomic<int> inconsistent{0};
  std::atomic<bool> done{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto w = engine.make_decider();
      std::mt19937 rng(t);
      std::vector<int> order(kCalls);
      for (int i = 0; i < kCalls; ++i) order[i] = i;
      for (int round = 0; round < kRounds; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        w.refresh();
        for (int i : order) {
          Decision d = w.decide(packets[i], 0, 100);
          if (d.outcome != Outcome::placed) {
            ++inconsistent;
            continue;
          }
          uint32_t& mine = seen[t][i];
          if (mine && mine != d.mark) ++inconsistent;
          mine = d.mark;
        }
      }
    });
  }
  std::thread control([&] {
    // Quiescing and restoring a server changes schedulers, never templates.
    for (int i = 0; i < 20 && !done; ++i) {
      EngineConfig changed = c;
      changed.services[0].servers[i % 4].weight = 0;
      REQUIRE_FALSE(engine.apply(changed));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE_FALSE(engine.apply(c));
  });
  for (auto& th : threads) th.join();
  done = true;
  control.join();

  CHECK(inconsistent == 0);
  for (int i = 0; i < kCalls; ++i)
    for (int t = 1; t < kThreads; ++t) CHECK(seen[t][i] == seen[0][i]);
  CHECK(engine.template_count() == kCalls);
  int64_t live = 0;
  const EngineStats stats = engine.stats();
  for (const ServerStats& r : stats.services[0].servers) live += r.live_templates;
  CHECK(live == kCalls);
}

// Workers decide new calls in batches, refreshing between them, while a
// health check flaps one server with on_down expire and leaves it down: a
// worker whose snapshot predates a change must not leave a template on it.
TEST_CASE("concurrent workers leave no template on a server that went down with on_down expire") {
  Engine engine(sip_service("mh", 3));
  const IpAddress flapping = *IpAddress::parse("198.18.1.2");

  constexpr int kThreads = 3, kCallsPerRound = 300, kBatch = 100, kMaxRounds = 1000;
  std::atomic<bool> left_down{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto w = engine.make_decider();
      int rounds_after = 0;
      for (int round = 0; round < kMaxRounds && rounds_after < 2; ++round) {
        if (left_down) ++rounds_after;
        for (int i = 0; i < kCallsPerRound; ++i) {
          if (i % kBatch == 0) w.refresh();
          const std::string id = std::to_string(t) + "-" + std::to_string(round) + "-" + std::to_string(i);
          w.decide(test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(id)), 0, 100);
        }
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    REQUIRE(engine.set_server_health("sip", flapping, 0, ServerHealth::down_expiring) == HealthChange::changed);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    REQUIRE(engine.set_server_health("sip", flapping, 0, ServerHealth::up) == HealthChange::changed);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  REQUIRE(engine.set_server_health("sip", flapping, 0, ServerHealth::down_expiring) == HealthChange::changed);
  left_down = true;
  for (auto& th : threads) th.join();

  CHECK(engine.stats().services[0].servers[1].live_templates == 0);
  TemplateFilter on_flapping;
  on_flapping.server = flapping;
  CHECK(engine.templates(on_flapping, 100).empty());
}
