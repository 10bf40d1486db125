#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/template_table.hpp"

using namespace sipvs;

namespace {

struct CountingListener final : TemplateListener {
  std::map<uint32_t, int> live;
  void bound(uint32_t ref) override { ++live[ref]; }
  void released(uint32_t ref) override { --live[ref]; }
  std::vector<std::string> kept;  // by their copy
  void kept_by_copy(Template& t, uint32_t) override { kept.emplace_back(t.pe()); }
};

TemplateKey key_for(uint8_t client_last_byte, std::string_view pe) {
  TemplateKey k;
  k.client[0] = 198;
  k.client[1] = 18;
  k.client[3] = client_last_byte;
  k.client_family = 4;
  k.vaddr[0] = 198;
  k.vaddr[3] = 100;
  k.vaddr_family = 4;
  k.vport = 5060;
  k.protocol = 17;
  k.pe_len = static_cast<uint8_t>(pe.size());
  return k;
}

// What a lookup did: found a live template, created one, or neither (full).
struct Placed {
  std::optional<uint32_t> server_ref;
  bool hit = false;
  bool created = false;
  bool full = false;
};

struct Fixture {
  CountingListener listener;
  TemplateTable table;
  explicit Fixture(uint64_t cap) : table(cap, HashKey::random(), listener) {}

  TemplateTable::Bucket bucket(std::string_view pe, uint8_t client = 1) {
    const TemplateKey k = key_for(client, pe);
    return table.bucket(k, table.hash(k, nullptr, pe), nullptr, pe);
  }

  // Find-or-insert, as the engine does for a packet: the live template is
  // refreshed; without one, `server` gets a template unless the table is full.
  Placed lookup(std::string_view pe, uint32_t now, uint32_t server, uint32_t timeout = 60, uint8_t client = 1) {
    TemplateTable::Bucket b = bucket(pe, client);
    Placed r;
    if (Template* t = b.find(now)) {
      t->expires = now + timeout;
      r.server_ref = t->server_ref;
      r.hit = true;
      return r;
    }
    r.server_ref = server;
    r.full = b.full(now);
    if (!r.full) b.insert(server, TemplateOrigin::scheduled, now + timeout, now);
    r.created = !r.full;
    return r;
  }
};

}  // namespace

TEST_CASE("a template is created once, then hit and refreshed") {
  Fixture f(100);
  auto r = f.lookup("call-1@host", 1000, 7);
  CHECK(r.created);
  CHECK_FALSE(r.hit);
  CHECK(*r.server_ref == 7);
  r = f.lookup("call-1@host", 1050, 9);  // the scheduler would say 9, the template says 7
  CHECK(r.hit);
  CHECK(*r.server_ref == 7);
  r = f.lookup("call-1@host", 1109, 9);  // refreshed at 1050: lives until 1110
  CHECK(r.hit);
  CHECK(f.table.size() == 1);
  CHECK(f.listener.live[7] == 1);
}

TEST_CASE("pe data and the rest of the key both tell templates apart") {
  Fixture f(100);
  f.lookup("a", 10, 1);
  f.lookup("b", 10, 2);
  f.lookup("", 10, 3);            // fallback template: no pe data
  f.lookup("a", 10, 4, 60, 2);    // same Call-ID from another client
  CHECK(f.table.size() == 4);
  CHECK(*f.lookup("a", 11, 9).server_ref == 1);
  CHECK(*f.lookup("b", 11, 9).server_ref == 2);
  CHECK(*f.lookup("", 11, 9).server_ref == 3);
  CHECK(*f.lookup("a", 11, 9, 60, 2).server_ref == 4);
}

TEST_CASE("an expired template is gone and the session is scheduled anew") {
  Fixture f(100);
  f.lookup("x", 100, 1, 30);
  auto r = f.lookup("x", 130, 2, 30);
  CHECK(r.created);
  CHECK(*r.server_ref == 2);
  CHECK(f.table.size() == 1);
  CHECK(f.table.expired_total() == 1);
  CHECK(f.listener.live[1] == 0);
  CHECK(f.listener.live[2] == 1);
}

TEST_CASE("rebind moves a template to another server in place") {
  Fixture f(100);
  f.lookup("x", 100, 1);
  {
    TemplateTable::Bucket b = f.bucket("x");
    Template* t = b.find(101);
    REQUIRE(t);
    b.rebind(*t, 5, TemplateOrigin::scheduled);
  }
  CHECK(f.listener.live[1] == 0);
  CHECK(f.listener.live[5] == 1);
  CHECK(*f.lookup("x", 102, 9).server_ref == 5);
  CHECK(f.table.size() == 1);
}

TEST_CASE("at the cap new sessions are scheduled without a template, memory does not grow") {
  Fixture f(50);
  for (int i = 0; i < 50; ++i) CHECK(f.lookup("call-" + std::to_string(i), 10, 1).created);
  CHECK(f.table.size() == 50);
  for (int i = 50; i < 1000; ++i) {
    auto r = f.lookup("call-" + std::to_string(i), 10, 2);
    CHECK(r.full);
    CHECK_FALSE(r.created);
    CHECK(*r.server_ref == 2);
  }
  CHECK(f.table.size() == 50);
  CHECK(f.lookup("call-7", 11, 9).hit);  // established calls keep their affinity
  // Once they expire, room is made again.
  auto r = f.lookup("new-call", 100, 3);
  CHECK(r.created);
}

TEST_CASE("expire_step removes expired templates incrementally, not all at once") {
  Fixture f(100000);
  for (int i = 0; i < 20000; ++i) f.lookup("c" + std::to_string(i), 10, 1, 5);
  CHECK(f.table.size() == 20000);
  const std::size_t first = f.table.expire_step(100, 1024);
  CHECK(first > 0);
  CHECK(first < 20000);
  std::size_t total = first;
  for (int i = 0; i < 1000 && f.table.size() > 0; ++i) total += f.table.expire_step(100, 1024);
  CHECK(f.table.size() == 0);
  CHECK(total == 20000);
  CHECK(f.listener.live[1] == 0);
}

TEST_CASE("insert refuses a duplicate, remove_if removes by predicate") {
  Fixture f(100);
  const TemplateKey k = key_for(1, "abc");
  const uint64_t h = f.table.hash(k, nullptr, "abc");
  CHECK(f.table.insert(k, h, "abc", 4, TemplateOrigin::scheduled, 500));
  CHECK_FALSE(f.table.insert(k, h, "abc", 5, TemplateOrigin::scheduled, 500));
  f.lookup("other", 10, 6);
  CHECK(f.table.remove_if([](const Template& t) { return t.server_ref == 4; }) == 1);
  CHECK(f.table.size() == 1);
  int seen = 0;
  f.table.for_each([&](const Template& t) {
    ++seen;
    CHECK(t.pe() == "other");
    return true;
  });
  CHECK(seen == 1);
  f.lookup("third", 10, 6);
  seen = 0;
  f.table.for_each([&](const Template&) { return ++seen < 1; });  // stops at the first
  CHECK(seen == 1);
}

TEST_CASE("the hash is keyed: another secret gives other hashes") {
  CountingListener l;
  TemplateTable a(10, HashKey::random(), l), b(10, HashKey::random(), l);
  const TemplateKey k = key_for(1, "call");
  CHECK(a.hash(k, nullptr, "call") != b.hash(k, nullptr, "call"));
  CHECK(a.hash(k, nullptr, "call") == a.hash(k, nullptr, "call"));
}

TEST_CASE("a cap near UINT64_MAX is no cap: it does not wrap to a full table") {
  for (const uint64_t cap : {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 62, uint64_t{1} << 63}) {
    CAPTURE(cap);
    Fixture f(cap);
    CHECK(f.table.max_size() >= cap);
    const Placed r = f.lookup("call", 10, 1);
    CHECK(r.created);
    CHECK_FALSE(r.full);
    CHECK(f.table.size() == 1);
  }
}

// Every round fills the table to its cap with Call-IDs of one length, then
// lets them expire: nodes freed by one length must serve the next, so the
// pool never holds more than a cap's worth of the largest node.
TEST_CASE("template memory stays under cap x node size while Call-ID lengths cycle 1-255 at the cap") {
  constexpr uint64_t kCap = 2000;  // one shard
  constexpr uint64_t kBound = kCap * sizeof(Template) + 64 * 1024;  // plus one partly carved chunk
  Fixture f(kCap);
  uint32_t now = 100;
  std::string id;
  const auto fill = [&](auto length_of) {
    uint64_t created = 0;
    for (uint64_t i = 0; i < kCap; ++i) {  // distinct keys even of one byte: 256 clients x 8 Call-IDs
      id.assign(length_of(i), 'x');
      id[0] = static_cast<char>('a' + i / 256);
      created += f.lookup(id, now, 1, 5, static_cast<uint8_t>(i % 256)).created;
    }
    REQUIRE(created == kCap);
    now += 10;
    f.table.expire_step(now, 1 << 20);
    REQUIRE(f.table.size() == 0);
  };
  for (std::size_t length = 1; length <= kMaxSipValue; ++length) {
    fill([length](uint64_t) { return length; });
    CHECK(f.table.bytes_reserved() <= kBound);
  }
  for (std::size_t round = 0; round < 20; ++round) {  // mixed lengths within each round
    fill([round](uint64_t i) { return 1 + (i * 7 + round) % kMaxSipValue; });
    CHECK(f.table.bytes_reserved() <= kBound);
  }
  CHECK(f.table.bytes_reserved() > 0);
}

TEST_CASE("erase drops a template and releases its server") {
  Fixture f(100);
  f.lookup("x", 100, 1);
  {
    TemplateTable::Bucket b = f.bucket("x");
    Template* t = b.find(101);
    REQUIRE(t);
    b.erase(*t);
    CHECK_FALSE(b.find(101));
  }
  CHECK(f.table.size() == 0);
  CHECK(f.listener.live[1] == 0);
  CHECK(f.lookup("x", 102, 2).created);
}

namespace {

// A copy of the templates, as the eBPF fast path keeps: it says until when
// each call's copy lives, and records what it is told to erase.
struct FakeMirror final : TemplateMirror {
  std::map<std::string, uint32_t> copy_until;  // by pe data
  std::vector<std::string> erased_calls;
  uint32_t copy_expires(const Template& t) override {
    const auto it = copy_until.find(std::string(t.pe()));
    return it == copy_until.end() ? 0 : it->second;
  }
  void used(const Template&, const ServiceConfig&, const RealServerConfig&, unsigned) override {}
  void flush(unsigned) override {}
  void stored(const Template&, const ServiceConfig&, const RealServerConfig&) override {}
  void erased(const Template& t) override { erased_calls.emplace_back(t.pe()); }
};

}  // namespace

TEST_CASE("a template whose copy is still used outlives its own time, then goes with its copy") {
  Fixture f(100);
  FakeMirror mirror;
  f.table.set_mirror(&mirror);
  f.lookup("fast", 100, 1, 30);
  f.lookup("slow", 100, 2, 30);
  mirror.copy_until["fast"] = 160;  // the fast path saw the call at 130
  // At 140 both ran out here: expiry keeps the one whose copy lives.
  for (int i = 0; i < 100; ++i) f.table.expire_step(140, 1024);
  CHECK(f.table.size() == 1);
  CHECK(mirror.erased_calls == std::vector<std::string>{"slow"});
  CHECK(f.listener.kept == std::vector<std::string>{"fast"});  // the engine tells the peers
  // A packet of the call through the slow path finds it, on its server.
  auto r = f.lookup("fast", 150, 9, 30);
  CHECK(r.hit);
  CHECK(*r.server_ref == 1);
  // Once the copy is idle past its time too, both go.
  mirror.copy_until["fast"] = 175;
  for (int i = 0; i < 100; ++i) f.table.expire_step(181, 1024);
  CHECK(f.table.size() == 0);
  CHECK(mirror.erased_calls == std::vector<std::string>{"slow", "fast"});
}

TEST_CASE("a lookup keeps a template whose copy lives, and every removal erases the copy") {
  Fixture f(100);
  FakeMirror mirror;
  f.table.set_mirror(&mirror);
  f.lookup("a", 100, 1, 30);
  mirror.copy_until["a"] = 200;
  auto r = f.lookup("a", 140, 2, 30);  // expired here, alive in the copy
  CHECK(r.hit);
  CHECK(*r.server_ref == 1);
  f.lookup("b", 100, 3, 30);
  CHECK(f.table.remove_if([](const Template& t) { return t.server_ref == 3; }) == 1);
  CHECK(mirror.erased_calls == std::vector<std::string>{"b"});
}
