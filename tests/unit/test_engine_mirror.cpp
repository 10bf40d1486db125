// The engine's template mirror (the daemon's eBPF fast path) as the engine
// drives it: each template a packet is decided with is copied, each one that
// goes is erased, and both in the table's own order, even when a worker and
// the control plane act on one template at once.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config_builder.hpp"
#include "engine/engine.hpp"
#include "engine/template_table.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

// The copies by Call-ID, each naming its server. Called under shard locks,
// from several threads at once.
struct RecordingMirror final : TemplateMirror {
  std::mutex mutex;
  std::map<std::string, std::string> copies;
  std::set<unsigned> used_by, flushed;  // decider slots

  uint32_t copy_expires(const Template&) override { return 0; }
  void used(const Template& t, const ServiceConfig&, const RealServerConfig& server, unsigned decider) override {
    copy(t, server);
    std::lock_guard lock(mutex);
    used_by.insert(decider);
  }
  void flush(unsigned decider) override {
    std::lock_guard lock(mutex);
    flushed.insert(decider);
  }
  void stored(const Template& t, const ServiceConfig&, const RealServerConfig& server) override { copy(t, server); }
  void erased(const Template& t) override {
    std::lock_guard lock(mutex);
    copies.erase(std::string(t.pe()));
  }
  void copy(const Template& t, const RealServerConfig& server) {
    if (before_copy) before_copy(std::string(t.pe()));
    std::lock_guard lock(mutex);
    copies[std::string(t.pe())] = server.address.to_string();
  }
  std::function<void(const std::string&)> before_copy;  // a test's hook
};

EngineConfig sip_config() {
  EngineConfig c;
  c.max_templates = 10000;
  c.services.push_back(test::sip_service());
  return c;
}

// An engine whose mirror is set before its worker's decider exists.
struct MirroredEngine {
  Engine engine{sip_config()};
  RecordingMirror mirror;
  Engine::Decider worker = mirrored_decider();
  std::vector<uint8_t> packet;

  Engine::Decider mirrored_decider() {
    engine.set_template_mirror(&mirror);
    return engine.make_decider();
  }
  Decision decide(const std::string& call_id, std::string_view method, Seconds now) {
    packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call_id, method));
    return worker.decide(packet, 0, now);
  }
};

// The table's templates by Call-ID, each naming its server.
std::map<std::string, std::string> table(const Engine& e, Seconds now) {
  std::map<std::string, std::string> out;
  for (const TemplateInfo& t : e.templates({}, now)) out[t.pe_data] = t.server.to_string();
  return out;
}

std::string call(int i) { return "call-" + std::to_string(i); }

}  // namespace

TEST_CASE("the mirror holds a copy of each template a packet was decided with, on its server") {
  MirroredEngine f;
  Engine& e = f.engine;
  RecordingMirror& m = f.mirror;
  for (int i = 0; i < 20; ++i) f.decide(call(i), "INVITE", 1000);
  CHECK(m.copies.size() == 20);
  CHECK(m.copies == table(e, 1000));
  TemplateFilter one;
  one.pe_data = call(3);
  CHECK(e.flush_templates(one) == 1);
  CHECK(m.copies.count(call(3)) == 0);
  f.decide(call(3), "BYE", 1001);  // placed anew: copied anew
  CHECK(m.copies == table(e, 1001));
}

// The mirror may hold a worker's copies back until the worker flushes
// (the fast path writes them to its map in one call): each copy names the
// decider's slot, and each decider flushes its own slot.
TEST_CASE("a decider's copies name its slot, and flush_mirror() flushes that slot") {
  MirroredEngine f;
  Engine::Decider other = f.engine.make_decider();
  f.decide(call(1), "INVITE", 1000);
  REQUIRE(f.mirror.used_by.size() == 1);
  const std::set<unsigned> worker = f.mirror.used_by;
  auto packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call(2), "INVITE"));
  other.decide(packet, 0, 1000);
  REQUIRE(f.mirror.used_by.size() == 2);
  CHECK(f.mirror.flushed.empty());
  f.worker.flush_mirror();
  CHECK(f.mirror.flushed == worker);
  other.flush_mirror();
  CHECK(f.mirror.flushed == f.mirror.used_by);
}

TEST_CASE("a decider flushes its copies when it goes") {
  MirroredEngine f;
  {
    Engine::Decider gone = f.engine.make_decider();
    auto packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call(1), "INVITE"));
    gone.decide(packet, 0, 1000);
    REQUIRE(f.mirror.used_by.size() == 1);
  }
  CHECK(f.mirror.flushed == f.mirror.used_by);
}

// The copy of a call whose server went down must not outlive its template,
// or the fast path would keep the call on that server for as long as it
// talks. used() runs under the template's lock: a removal that comes while
// a worker is copying the template waits, then erases the copy. (Copied
// after the decision instead, outside the lock, the copy would land after
// the removal and stay.)
TEST_CASE("a server's calls moved off it while a worker copies one: the copy goes with the template") {
  MirroredEngine f;
  Engine& e = f.engine;
  RecordingMirror& m = f.mirror;
  std::string on_down;
  for (int i = 0; i < 30 && on_down.empty(); ++i)
    if (f.decide(call(i), "INVITE", 1000).server->address.to_string() == "198.18.1.1") on_down = call(i);
  REQUIRE_FALSE(on_down.empty());
  std::thread removal;
  std::atomic<bool> removed{false};
  m.before_copy = [&](const std::string& id) {
    if (id != on_down || removal.joinable()) return;
    removal = std::thread([&] {
      e.set_server_health("sip", *IpAddress::parse("198.18.1.1"), 0, ServerHealth::down_expiring);
      removed = true;
    });
    // A removal that the table's lock does not hold off is done by now.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  CHECK(f.decide(on_down, "BYE", 1001).template_hit);
  removal.join();
  CHECK(removed);
  CHECK(m.copies.count(on_down) == 0);
  CHECK(m.copies == table(e, 1001));
}
