// Engine micro-benchmarks. Run a Release build:
//   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel --target bench_engine
//   build-rel/bench/bench_engine
// BM_DecideInvite: parse + decide for a typical ~900-byte INVITE of a known
// call on a warm table (the common case: every message after the first).
// BM_DecideNewCall: the same for a call seen for the first time (schedule +
// insert). BM_ParseOnly: packet view + Call-ID only, the baseline the decision
// adds to. BM_TemplateMemory: resident bytes per template at 1 M templates.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "packet_builder.hpp"

using namespace sipvs;

namespace {

EngineConfig bench_config(std::string scheduler, uint64_t max_templates) {
  EngineConfig c;
  c.max_templates = max_templates;
  ServiceConfig s;
  s.name = "sip";
  s.vip = *IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = std::move(scheduler);
  s.persistence_timeout = 300;
  s.netmask = 0;
  s.one_packet = true;
  s.pe = "sip";
  for (uint32_t i = 1; i <= 8; ++i) {
    RealServerConfig r;
    r.address = *IpAddress::parse("198.18.1." + std::to_string(i));
    r.mark = i;
    s.servers.push_back(r);
  }
  c.services.push_back(s);
  return c;
}

std::string call_id(std::size_t i) { return std::to_string(i) + "-a84b4c76e66710@pc33.atlanta.example.com"; }

std::vector<uint8_t> invite_packet(std::size_t i) {
  return test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call_id(i)));
}

void BM_ParseOnly(benchmark::State& state) {
  const auto packet = invite_packet(1);
  SipScratch scratch;
  for (auto _ : state) {
    PacketView v;
    parse_packet(packet, v);
    std::string_view id;
    benchmark::DoNotOptimize(find_call_id(v.payload, scratch, id));
    benchmark::DoNotOptimize(id);
  }
  state.counters["bytes"] = static_cast<double>(packet.size());
}
BENCHMARK(BM_ParseOnly);

void BM_DecideInvite(benchmark::State& state) {
  const std::size_t calls = static_cast<std::size_t>(state.range(0));
  Engine engine(bench_config("mh", calls * 2));
  auto worker = engine.make_decider();
  std::vector<std::vector<uint8_t>> packets;
  for (std::size_t i = 0; i < 1024; ++i) packets.push_back(invite_packet(i * (calls / 1024)));
  for (std::size_t i = 0; i < calls; ++i) worker.decide(invite_packet(i), 0, 100);  // warm the table
  std::size_t n = 0;
  for (auto _ : state) benchmark::DoNotOptimize(worker.decide(packets[n++ & 1023], 0, 100));
  state.counters["templates"] = static_cast<double>(engine.template_count());
  state.counters["bytes"] = static_cast<double>(packets[0].size());
}
BENCHMARK(BM_DecideInvite)->Arg(1 << 10)->Arg(1 << 17);

void BM_DecideNewCall(benchmark::State& state) {
  Engine engine(bench_config("mh", 4'000'000));
  auto worker = engine.make_decider();
  std::vector<std::vector<uint8_t>> packets;
  for (std::size_t i = 0; i < 4096; ++i) packets.push_back(invite_packet(i));
  std::size_t n = 0;
  uint32_t now = 100;
  for (auto _ : state) {
    // A new Call-ID each time, without building a packet per iteration: the
    // same 4096 packets, the clock moved past their templates' lifetime.
    if ((n & 4095) == 0) now += 301;
    benchmark::DoNotOptimize(worker.decide(packets[n++ & 4095], 0, now));
  }
}
BENCHMARK(BM_DecideNewCall);

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Resident memory of 1 M live templates (table, nodes, Call-IDs), reported per
// template and per template without its Call-ID bytes.
void BM_TemplateMemory(benchmark::State& state) {
  constexpr std::size_t kTemplates = 1'000'000;
  double per_template = 0, call_id_bytes = 0;
  for (auto _ : state) {
    const std::size_t before = resident_bytes();
    {
      Engine engine(bench_config("rr", kTemplates));
      auto worker = engine.make_decider();
      std::size_t ids = 0;
      for (std::size_t i = 0; i < kTemplates; ++i) {
        auto p = invite_packet(i);
        ids += call_id(i).size();
        worker.decide(p, 0, 100);
      }
      const std::size_t after = resident_bytes();
      per_template = static_cast<double>(after - before) / static_cast<double>(engine.template_count());
      call_id_bytes = static_cast<double>(ids) / kTemplates;
    }
  }
  state.counters["bytes_per_template"] = per_template;
  state.counters["callid_bytes"] = call_id_bytes;
  state.counters["bytes_per_template_excl_callid"] = per_template - call_id_bytes;
}
BENCHMARK(BM_TemplateMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
