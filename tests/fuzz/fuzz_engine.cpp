// libFuzzer target for the engine's whole decision path: a small Engine
// (three services: IPv4 with the sip-tag PE, IPv6 per-flow, fwmark with the
// sip-header PE; a table capped at 16 templates) takes a sequence of
// operations read from the input: decide() on SIP messages wrapped in UDP to
// a VIP or on raw packets, expire_step, set_server_health, apply() of a changed
// configuration, worker refresh, template listing, flushing and restoring,
// all on a clock the input moves. After each step the invariants the
// daemon relies on are checked with __builtin_trap (see check_decision).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "fuzz_input.hpp"
#include "../unit/packet_builder.hpp"

namespace {

using namespace sipvs;

const char* const kSchedulers[] = {"rr", "wrr", "lc", "wlc", "sh", "mh"};
constexpr std::size_t kSchedulerCount = std::size(kSchedulers);

RealServerConfig server(const char* address, uint32_t weight, uint32_t mark) {
  RealServerConfig r;
  r.address = *IpAddress::parse(address);
  r.port = 5060;
  r.weight = weight;
  r.mark = mark;
  return r;
}

EngineConfig initial_config(fuzz::Input& in) {
  EngineConfig c;
  c.max_templates = 16;
  c.udp_timeout = 30;
  c.max_new_templates_per_source = in.byte() % 4;  // 0: no limit

  ServiceConfig& a = c.services.emplace_back();
  a.name = "sip";
  a.vip = *IpAddress::parse("198.18.2.100");
  a.port = 5060;
  a.scheduler = kSchedulers[in.byte() % kSchedulerCount];
  a.persistence_timeout = 120;
  a.netmask = 0;
  a.one_packet = true;
  a.pe = "sip-tag";
  a.servers = {server("198.18.1.1", 1, 1), server("198.18.1.2", 2, 2), server("198.18.1.3", 0, 3)};
  for (std::size_t i = 0; i < a.servers.size(); ++i) a.servers[i].tag = "s" + std::to_string(i + 1);

  ServiceConfig& b = c.services.emplace_back();
  b.name = "v6";
  b.vip = *IpAddress::parse("2001:db8::100");
  b.port = 5060;
  b.scheduler = kSchedulers[in.byte() % kSchedulerCount];
  b.servers = {server("2001:db8::1", 1, 11), server("2001:db8::2", 3, 12)};

  ServiceConfig& f = c.services.emplace_back();
  f.name = "marked";
  f.fwmark = 7;
  f.scheduler = kSchedulers[in.byte() % kSchedulerCount];
  f.persistence_timeout = 60;
  f.netmask = 24;
  f.pe = "sip-header";
  f.pe_param = "X-Session-ID";
  f.servers = {server("198.18.1.21", 1, 21), server("198.18.1.22", 1, 22)};
  return c;
}

using Health = sipvs::ServerHealth;

std::string key(const std::string& service, const RealServerConfig& r) {
  return service + "|" + r.address.to_string() + "|" + std::to_string(r.port);
}

struct Fuzzer {
  explicit Fuzzer(fuzz::Input& input)
      : in(input), config(initial_config(in)), engine(config), worker(engine.make_decider()), now(in.u32() >> 1) {}

  fuzz::Input& in;
  EngineConfig config;  // what the engine runs
  Engine engine;
  Engine::Decider worker;
  Seconds now;
  bool stale = false;                    // the worker's snapshot predates a change
  std::map<std::string, Health> health;  // by key(); absent: up
  uint32_t next_mark = 100;

  void tick(uint8_t delta) {
    // Workers read the clock on their own, so a step back by a second happens.
    if (delta == 255)
      now -= now > 0;
    else
      now += delta % 64;
  }

  void check_decision(const Decision& d, bool templated) {
    if (d.template_created && (!d.server || d.template_hit)) __builtin_trap();
    if (d.outcome != Outcome::placed) {
      if (d.server || d.mark) __builtin_trap();
      return;
    }
    if (!d.service || !d.server || d.server->mark != d.mark) __builtin_trap();
    const auto& servers = d.service->servers;
    if (d.server < servers.data() || d.server >= servers.data() + servers.size()) __builtin_trap();
    const auto h = health.find(key(d.service->name, *d.server));
    const Health now_health = h == health.end() ? Health::up : h->second;
    if (d.tagged) {
      // The server the message named, whatever its weight, if it still holds its calls.
      if (d.server->tag != d.tag || now_health == Health::down_expiring) __builtin_trap();
    } else if (d.template_hit) {
      // A server whose templates expire loses its calls at their next packet.
      if (now_health == Health::down_expiring) __builtin_trap();
    } else if (d.template_created || (!stale && templated)) {
      if (now_health != Health::up) __builtin_trap();
      if (!stale && d.server->weight == 0) __builtin_trap();
    }
  }

  void decide(std::span<const uint8_t> packet, uint32_t mark) {
    const Decision d = worker.decide(packet, mark, now);
    const bool templated = d.service && (d.service->persistence_timeout > 0 || !d.service->one_packet);
    check_decision(d, templated);
  }

  void decide_sip() {
    static const char* const kClients[] = {"198.18.0.1", "198.18.0.2", "198.18.7.9", "2001:db8:1::1",
                                           "2001:db8:1::2", "2001:db8:2::1"};
    const uint8_t route = in.byte();
    tick(in.byte());
    const std::string_view payload = in.text();
    const bool v6 = route & 1;
    const char* client = kClients[(v6 ? 3 : 0) + (route >> 1) % 3];
    const char* vip = v6 ? "2001:db8::100" : "198.18.2.100";
    const uint16_t sport = static_cast<uint16_t>(5060 + (route >> 3) % 4);
    const std::vector<uint8_t> p = test::udp_packet(client, sport, vip, 5060, payload);
    decide(p, (route & 0x80) ? 7 : 0);  // mark 7: the fwmark service
  }

  void decide_raw() {
    tick(in.byte());
    const uint32_t mark = in.byte() & 1 ? 7 : 0;
    const std::string_view raw = in.text();
    decide({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}, mark);
  }

  void expire() {
    now += in.byte() * 4u;
    engine.expire_step(now, 1 + in.byte());
  }

  void set_up() {
    const uint8_t pick = in.byte();
    ServiceConfig& s = config.services[pick % config.services.size()];
    if (s.servers.empty()) return;
    const RealServerConfig& r = s.servers[(pick >> 2) % s.servers.size()];
    const bool up = pick & 0x40, drop = pick & 0x80;
    const Health next = up ? Health::up : drop ? Health::down_expiring : Health::down;
    const auto h = health.find(key(s.name, r));
    const Health was = h == health.end() ? Health::up : h->second;
    const sipvs::HealthChange expected = was == next ? sipvs::HealthChange::unchanged : sipvs::HealthChange::changed;
    if (engine.set_server_health(s.name, r.address, r.port, next) != expected) __builtin_trap();
    health[key(s.name, r)] = next;
    stale = true;
  }

  // One change to the running configuration; the engine may refuse it.
  void change() {
    const uint8_t what = in.byte(), value = in.byte();
    EngineConfig next = config;
    ServiceConfig& s = next.services[value % next.services.size()];
    switch (what % 7) {
      case 0: s.scheduler = kSchedulers[(value >> 2) % kSchedulerCount]; break;
      case 1:
        if (!s.servers.empty()) s.servers[(value >> 2) % s.servers.size()].weight = value >> 5;
        break;
      case 2:
        if (!s.servers.empty()) s.servers.erase(s.servers.begin() + (value >> 2) % s.servers.size());
        break;
      case 3: {
        const std::string base = s.vip.is_v4() || s.is_fwmark() ? "198.18.1." : "2001:db8::";
        s.servers.push_back(server((base + std::to_string(30 + value % 40)).c_str(), value >> 6, next_mark++));
        break;
      }
      case 4: s.persistence_timeout = value & 3 ? (value >> 2) : 0; break;
      case 5:
        s.one_packet = !s.one_packet;
        if (s.netmask) s.netmask = *s.netmask == 0 ? 24 : 0;
        break;
      case 6: next.max_new_templates_per_source = value % 4; break;
    }
    if (engine.apply(next)) return;  // refused: nothing changed
    config = std::move(next);
    std::map<std::string, Health> kept;
    for (const ServiceConfig& c : config.services)
      for (const RealServerConfig& r : c.servers)
        if (auto it = health.find(key(c.name, r)); it != health.end()) kept.insert(*it);
    health = std::move(kept);
    stale = true;
  }

  void refresh() {
    worker.refresh();
    stale = false;
  }

  // Lists templates, then flushes those of one server, or restores the listed ones.
  void templates() {
    const uint8_t how = in.byte();
    TemplateFilter filter;
    const ServiceConfig& s = config.services[how % config.services.size()];
    if (how & 4) filter.service = s.name;
    if (how & 8 && !s.servers.empty()) filter.server = s.servers.front().address;
    filter.offset = (how >> 4) & 3;
    const std::vector<TemplateInfo> listed = engine.templates(filter, now);
    for (const TemplateInfo& t : listed) {
      if (t.expires_in == 0 || static_cast<int32_t>(t.expires_in) < 0) __builtin_trap();
      if (filter.service && t.service != *filter.service) __builtin_trap();
    }
    if (how & 0x40) {
      engine.flush_templates(filter);
      if (!engine.templates(filter, now).empty()) __builtin_trap();
    } else if (how & 0x80) {
      for (const TemplateInfo& t : listed) engine.restore_template(t, now);
    }
  }

  void check_table() {
    const EngineStats st = engine.stats();
    if (st.templates_live != engine.template_count() || st.templates_live > st.templates_max) __builtin_trap();
    int64_t live = 0;
    for (const ServiceStats& s : st.services)
      for (const ServerStats& r : s.servers) {
        if (r.live_templates < 0) __builtin_trap();
        live += r.live_templates;
      }
    // Every template belongs to a configured server: gone servers' templates are dropped.
    if (static_cast<uint64_t>(live) != st.templates_live) __builtin_trap();
  }

  void run() {
    for (int step = 0; step < 256 && !in.empty(); ++step) {
      switch (in.byte() % 8) {
        case 0: decide_sip(); break;
        case 1: decide_raw(); break;
        case 2: expire(); break;
        case 3: set_up(); break;
        case 4: change(); break;
        case 5: refresh(); break;
        case 6: templates(); break;
        case 7: decide_sip(); break;  // the common case, twice as likely
      }
      check_table();
    }
    // Past every lifetime, expiry empties the table within a bounded number of steps.
    now += 200;
    for (int i = 0; i < 1000 && engine.template_count() > 0; ++i) engine.expire_step(now, 64);
    if (engine.template_count() != 0) __builtin_trap();
    check_table();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  Fuzzer(in).run();
  return 0;
}
