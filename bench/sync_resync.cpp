// The bulk resync of a whole template table (docs/sync-protocol.md), in one
// process over the loopback: director A holds N templates, director B starts
// with an empty table and asks A for all of it. Reports how long B takes to
// have the table and to say it is synced, what travels (records, datagrams,
// bytes), and what serving it costs A: its sync thread's CPU time, and the
// ns per decide() of calls A knows, timed with no resync under way and while
// A serves one, interleaved round by round.
//   cmake --build build-bench --target sync_resync && build-bench/bench/sync_resync
//   options: --templates N (1000000) --decisions D (2000000) --rounds R (3)
//            --limit SECONDS (120, for each resync) --out FILE (the report, again)
// Exits 1 when a resync did not end with B synced and holding A's N
// templates, each call on A's server, within the limit; 2 on a bad option.
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "args.hpp"
#include "config_builder.hpp"
#include "loopback_sync.hpp"
#include "daemon/sync/sync_service.hpp"
#include "packet_builder.hpp"

using namespace sipvs;
using sipvsd::SyncConfig;
using sipvsd::SyncService;
using sipvsd::SyncStatus;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kProgram = "sync_resync";
// Calls whose servers B is asked for after each resync, spread over the table.
constexpr uint64_t kSampledCalls = 1000;
// What the Call-IDs' ten digits number.
constexpr uint64_t kMaxTemplates = 9'999'999'999;

struct Options {
  uint64_t templates = 1'000'000;
  uint64_t decisions = 2'000'000;
  uint64_t rounds = 3;
  double limit_seconds = 120;
  std::string out;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: sync_resync [--templates N] [--decisions D] [--rounds R] [--limit SECONDS] [--out FILE]\n"
               "  A holds N templates (default 1000000, 1..%llu); B starts empty and gets them by a bulk\n"
               "  resync, once alone, then R times (default 3) after D decide() of A's calls (default\n"
               "  2000000), with D more while A serves; each resync gives up after --limit s (default\n"
               "  120); the report goes to stdout and to --out FILE.\n",
               static_cast<unsigned long long>(kMaxTemplates));
  std::exit(code);
}

Options parse_options(int argc, char** argv) {
  Options o;
  bench::for_each_option(argc, argv, usage, [&](std::string_view a, const char* v) {
    if (a == "--templates") o.templates = static_cast<uint64_t>(bench::number(kProgram, v, "--templates"));
    else if (a == "--decisions") o.decisions = static_cast<uint64_t>(bench::number(kProgram, v, "--decisions"));
    else if (a == "--rounds") o.rounds = static_cast<uint64_t>(bench::number(kProgram, v, "--rounds"));
    else if (a == "--limit") o.limit_seconds = bench::number(kProgram, v, "--limit");
    else if (a == "--out") o.out = v;
    else return false;
    return true;
  });
  o.templates = std::clamp<uint64_t>(o.templates, 1, kMaxTemplates);
  return o;
}

// Both directors' configuration: one SIP service, Call-ID persistence for
// half an hour (nothing expires during the run), room for twice the calls
// (each shard's cap is its share of the total, and the hash fills some more).
EngineConfig director(uint64_t templates) {
  EngineConfig c;
  c.max_templates = std::max<uint64_t>(2 * templates, 4096);
  c.services.push_back(test::sip_service("mh", 1800));
  return c;
}

// One INVITE whose Call-ID starts with kDigits decimal digits, rewritten in
// place for each call: no packet is built per decision.
class CallPacket {
 public:
  static constexpr std::size_t kDigits = 10;
  static constexpr std::string_view kCallIdTail = "-a84b4c76e66710@pc33.atlanta.example.com";

  CallPacket()
      : bytes_(test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060,
                                test::invite(std::string(kDigits, '0') + std::string(kCallIdTail)))),
        digits_(std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()).find("Call-ID: ") + 9) {}

  std::span<const uint8_t> of_call(uint64_t call) {
    for (std::size_t i = kDigits; i-- > 0; call /= 10) bytes_[digits_ + i] = static_cast<uint8_t>('0' + call % 10);
    return bytes_;
  }

 private:
  std::vector<uint8_t> bytes_;
  std::size_t digits_;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct DataPath {
  uint64_t decisions = 0, misses = 0;
  double seconds = 0;
  double ns_per_decision() const { return decisions ? seconds * 1e9 / static_cast<double>(decisions) : 0; }
};

// Up to `count` decide() of calls A knows, spread over its whole table as a
// director's traffic is; stops early when asked (checked between batches).
DataPath decide_known_calls(Engine::Decider& decider, CallPacket& packet, uint64_t calls, uint64_t count,
                            std::stop_token stop) {
  constexpr uint64_t kBatch = 1024;
  constexpr uint64_t kSpread = 0x9E3779B97F4A7C15;  // odd: consecutive decisions land far apart
  DataPath d;
  const Seconds now = monotonic_seconds();
  const Clock::time_point start = Clock::now();
  while (d.decisions < count && !stop.stop_requested()) {
    for (const uint64_t end = std::min(count, d.decisions + kBatch); d.decisions < end; ++d.decisions)
      d.misses += !decider.decide(packet.of_call(d.decisions * kSpread % calls), 0, now).template_hit;
  }
  d.seconds = seconds_since(start);
  return d;
}

// While the data path is timed it has a CPU of its own and the sync threads
// the others, so that a resync's cost shows as what the two share (the
// table, its shard locks, the caches), not as CPU time taken from it.
struct Cpus {
  std::vector<int> all, data_path, sync;
};

Cpus split_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) throw std::runtime_error("sched_getaffinity failed");
  std::vector<int> all;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) all.push_back(c);
  if (all.size() < 2) return {all, all, all};
  return {all, {all.front()}, {all.begin() + 1, all.end()}};
}

// Thread `tid` of this process (0: the calling thread) runs on `cpus` only.
void pin(pid_t tid, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  if (sched_setaffinity(tid, sizeof set, &set) != 0) throw std::runtime_error("sched_setaffinity failed");
}

// The id of this process's thread named `name`, other than `other`, once
// it has taken the name (at most a second).
pid_t thread_named(const std::string& name, pid_t other = 0) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string comm_name;
      const pid_t tid = std::stoi(task.path().filename().string());
      if (std::getline(comm, comm_name) && comm_name == name && tid != other) return tid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  throw std::runtime_error("no thread named " + name);
}

// CPU seconds (user + system) thread `tid` of this process has used.
double thread_cpu_seconds(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // After the name, which is in parentheses and may hold spaces: fields 3
  // (state) to 13, then utime and stime, in clock ticks.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skipped;
  for (int field = 3; field <= 13; ++field) fields >> skipped;
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

const sipvs::sync::Authenticator& key() {
  static const sipvs::sync::Authenticator k = test::shared_key(0x5a);
  return k;
}

// Polls `done` every millisecond until it holds or `deadline` passes.
template <class F>
bool wait_until(Clock::time_point deadline, F done) {
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

struct Wire {
  uint64_t records = 0, datagrams = 0, bytes = 0;
  Wire operator-(const Wire& earlier) const {
    return {records - earlier.records, datagrams - earlier.datagrams, bytes - earlier.bytes};
  }
};
Wire sent(const SyncStatus& s) { return {s.records_sent, s.datagrams_sent, s.bytes_sent}; }
Wire received(const SyncStatus& s) { return {s.records_received, s.datagrams_received, s.bytes_received}; }

// One bulk resync of A's table to a B that starts empty. A pass is A's walk
// of its whole table; B asks for another when it missed a datagram of one.
struct Resync {
  std::string stalled;  // what had not happened when the limit passed; empty: all did
  // B's milestones, in seconds from its start.
  std::optional<double> asked, first_pass_sent, table_received, synced;
  Wire first_pass;  // what A had sent when it ended its first pass
  Wire by_a, to_b;  // in all: what A sent (records, alive, requests, resync ends); what B took
  // A asks B, as a peer that restarted, for its table too: how often, and what B sent.
  uint64_t a_requests = 0;
  Wire by_b;
  uint64_t passes = 0, requests = 0, lost = 0;  // complete passes A sent; B's requests; datagrams B missed
  uint64_t stored = 0, templates = 0;           // records B stored; its templates at the end
  uint64_t sampled = 0, misplaced = 0;          // calls checked on B; those not on A's server
  double a_cpu_seconds = 0;                     // A's sync thread's, from B's start to the end
  std::optional<DataPath> during;               // A's decisions during its first pass
};

// As Daemon::start does: the change log before the first decider.
Engine::Decider decider_with_change_log(Engine& engine) {
  engine.enable_change_log(SyncConfig{}.change_log);
  return engine.make_decider();
}

// Director A, filled, with its sync thread; a B comes and goes for each resync.
class ResyncBench {
 public:
  explicit ResyncBench(const Options& options);
  double fill_seconds() const { return fill_seconds_; }
  const Cpus& cpus() const { return cpus_; }
  DataPath baseline();
  Resync resync(bool time_data_path);

 private:
  Clock::duration limit() const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.limit_seconds));
  }
  void fill();
  void wait_until_quiet();
  void tally(const SyncStatus& a_before, const SyncService& sync_b, const Engine& b, Resync& r) const;
  void check_calls(Engine& b, Resync& r);

  const Options options_;
  const Cpus cpus_ = split_cpus();
  const uint16_t port_a_ = test::free_udp_port();
  uint16_t port_b_ = test::free_udp_port();
  Engine a_;
  Engine::Decider data_path_;  // A's: fills the table, then the timed decisions
  CallPacket packet_;
  double fill_seconds_ = 0;
  std::unique_ptr<SyncService> sync_a_;
  pid_t sync_a_thread_ = 0;
};

ResyncBench::ResyncBench(const Options& options)
    : options_(options), a_(director(options.templates)), data_path_(decider_with_change_log(a_)) {
  while (port_b_ == port_a_) port_b_ = test::free_udp_port();
  fill();
  sync_a_ = std::make_unique<SyncService>(a_, test::loopback_sync(1, port_a_, port_b_, 1), key());
  sync_a_thread_ = thread_named("sipvsd-sync");
}

// A's table: one template per call, as the calls' first INVITEs make them.
void ResyncBench::fill() {
  const Clock::time_point start = Clock::now();
  const Seconds now = monotonic_seconds();
  for (uint64_t call = 0; call < options_.templates; ++call) data_path_.decide(packet_.of_call(call), 0, now);
  fill_seconds_ = seconds_since(start);
  if (a_.template_count() != options_.templates)
    throw std::runtime_error("A holds " + std::to_string(a_.template_count()) + " templates, not " +
                             std::to_string(options_.templates));
  // What the filling logged is no part of a resync: A's sync thread starts
  // with an empty change log, as on a director whose changes were all sent.
  std::vector<TemplateChangeInfo> changes;
  while (a_.drain_changes(changes, SyncConfig{}.change_log, now) > 0) changes.clear();
}

// Until A has sent no record for 100 ms: a pass to a B that has gone runs
// to its end first.
void ResyncBench::wait_until_quiet() {
  uint64_t records = sync_a_->status().records_sent;
  wait_until(Clock::now() + limit(), [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t now = sync_a_->status().records_sent;
    return std::exchange(records, now) == now;
  });
}

DataPath ResyncBench::baseline() {
  wait_until_quiet();
  DataPath d;
  std::jthread([&](std::stop_token stop) {
    pin(0, cpus_.data_path);
    d = decide_known_calls(data_path_, packet_, options_.templates, options_.decisions, stop);
  }).join();
  return d;
}

// B starts empty; with `time_data_path`, A decides known calls during its
// first pass, on its own CPU, the sync threads on the others meanwhile.
Resync ResyncBench::resync(bool time_data_path) {
  Engine b(director(options_.templates));
  b.enable_change_log(SyncConfig{}.change_log);
  Resync r;
  const SyncStatus a_before = sync_a_->status();
  const double cpu_before = thread_cpu_seconds(sync_a_thread_);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + limit();
  SyncService sync_b(b, test::loopback_sync(2, port_b_, port_a_, 1), key());
  if (time_data_path) {
    pin(sync_a_thread_, cpus_.sync);
    pin(thread_named("sipvsd-sync", sync_a_thread_), cpus_.sync);
  }
  // B's milestones in turn, each timed from its start, until one is missed.
  const auto reach = [&](const char* what, std::optional<double>& at, auto done) {
    if (!r.stalled.empty()) return;
    if (wait_until(deadline, done)) at = seconds_since(start);
    else r.stalled = what;
  };
  reach("B to ask A for its table", r.asked, [&] { return sync_b.status().resyncs_requested > 0; });
  std::jthread timing;
  if (time_data_path && r.stalled.empty())
    timing = std::jthread([&](std::stop_token stop) {
      pin(0, cpus_.data_path);
      r.during = decide_known_calls(data_path_, packet_, options_.templates, options_.decisions, stop);
    });
  reach("A to send its whole table", r.first_pass_sent,
        [&] { return sync_a_->status().resyncs_served > a_before.resyncs_served; });
  r.first_pass = sent(sync_a_->status()) - sent(a_before);
  if (timing.joinable()) {
    timing.request_stop();
    timing.join();
  }
  reach("B to have a pass of the table it missed nothing of", r.table_received, [&] {
    const SyncStatus s = sync_b.status();
    return !s.peers.empty() && s.peers[0].table_received;
  });
  reach("B to say it is synced", r.synced, [&] { return sync_b.status().synced; });
  r.a_cpu_seconds = thread_cpu_seconds(sync_a_thread_) - cpu_before;
  pin(sync_a_thread_, cpus_.all);
  tally(a_before, sync_b, b, r);
  check_calls(b, r);
  return r;
}

void ResyncBench::tally(const SyncStatus& a_before, const SyncService& sync_b, const Engine& b, Resync& r) const {
  const SyncStatus a_after = sync_a_->status();
  r.by_a = sent(a_after) - sent(a_before);
  r.passes = a_after.resyncs_served - a_before.resyncs_served;
  r.a_requests = a_after.resyncs_requested - a_before.resyncs_requested;
  const SyncStatus b_after = sync_b.status();
  r.to_b = received(b_after);
  r.by_b = sent(b_after);
  r.requests = b_after.resyncs_requested;
  r.lost = b_after.peers.empty() ? 0 : b_after.peers[0].lost;
  r.stored = b_after.installed[static_cast<std::size_t>(Installed::stored)];
  r.templates = b.template_count();
}

// Calls spread over the table: each must be a template B holds, on A's server.
void ResyncBench::check_calls(Engine& b, Resync& r) {
  Engine::Decider on_b = b.make_decider();
  const Seconds now = monotonic_seconds();
  const uint64_t step = std::max<uint64_t>(1, options_.templates / kSampledCalls);
  for (uint64_t call = 0; call < options_.templates; call += step) {
    const uint32_t a_mark = data_path_.decide(packet_.of_call(call), 0, now).mark;
    const Decision d = on_b.decide(packet_.of_call(call), 0, now);
    ++r.sampled;
    r.misplaced += !d.template_hit || d.mark != a_mark;
  }
}

// Appends printf-style text to `out`.
__attribute__((format(printf, 2, 3))) void append(std::string& out, const char* format, ...) {
  std::array<char, 1024> line;
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(line.data(), line.size(), format, ap);
  va_end(ap);
  out += line.data();
}

unsigned long long ull(uint64_t n) { return static_cast<unsigned long long>(n); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string text;
  for (int c : cpus) text += (text.empty() ? "" : ",") + std::to_string(c);
  return text;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// What a sync socket gets without CAP_NET_ADMIN (sipvsd asks for 8 MB).
std::size_t receive_buffer_limit() {
  std::ifstream in("/proc/sys/net/core/rmem_max");
  std::size_t bytes = 0;
  in >> bytes;
  return bytes;
}

std::string machine_section(const Options& o, const ResyncBench& bench, const std::array<double, 3>& load) {
  utsname u{};
  ::uname(&u);
  std::string out;
  append(out, "# Bulk resync of %llu templates (bench/sync_resync)\n\n", ull(o.templates));
  append(out, "- machine: %s %s %s, %u CPUs (%s); load average %.2f %.2f %.2f at the start\n", u.sysname, u.release,
         u.machine, std::thread::hardware_concurrency(), cpu_model().c_str(), load[0], load[1], load[2]);
  append(out,
         "- one process, directors A and B over the loopback; sync sockets of 8 MB as sipvsd sets them with "
         "CAP_NET_ADMIN (%s; without it, net.core.rmem_max: %zu bytes)\n",
         ::geteuid() == 0 ? "root here" : "NOT root here", receive_buffer_limit());
  append(out, "- one SIP service (mh, 3 servers, persistence 1800 s); Call-IDs of %zu bytes\n",
         CallPacket::kDigits + CallPacket::kCallIdTail.size());
  append(out, "- A filled with %llu calls in %.2f s\n", ull(o.templates), bench.fill_seconds());
  return out;
}

std::string seconds_text(const std::optional<double>& at) {
  std::string text = "not reached";
  if (at) {
    text.clear();
    append(text, "%.3f s", *at);
  }
  return text;
}

double megabytes(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

std::string wire_text(const Wire& w) {
  std::string text;
  append(text, "%llu records, %llu datagrams, %llu bytes (%.1f MB; %.1f MB with IPv4 and UDP headers)",
         ull(w.records), ull(w.datagrams), ull(w.bytes), megabytes(w.bytes), megabytes(w.bytes + 28 * w.datagrams));
  return text;
}

std::string resync_section(const Resync& r, const Options& o) {
  std::string out =
      "\n## B starts empty and gets A's whole table, nothing else running (threads on any CPU)\n\n| | |\n|---|---|\n";
  if (!r.stalled.empty())
    append(out, "| **gave up** | after %.0f s, waiting for %s |\n", o.limit_seconds, r.stalled.c_str());
  append(out, "| B's start → it asks A for the table | %s |\n", seconds_text(r.asked).c_str());
  append(out, "| → A has sent its whole table once (first pass) | %s |\n", seconds_text(r.first_pass_sent).c_str());
  if (r.asked && r.first_pass_sent) {
    const double pass = *r.first_pass_sent - *r.asked;
    append(out, "| first pass: B's request → A's resync end | %.3f s, %.0f templates/s |\n", pass,
           static_cast<double>(o.templates) / pass);
    append(out, "| first pass: A sent | %s |\n", wire_text(r.first_pass).c_str());
    append(out, "| bytes per record (UDP payload ÷ records) | %.1f |\n",
           static_cast<double>(r.first_pass.bytes) / static_cast<double>(std::max<uint64_t>(1, r.first_pass.records)));
  }
  append(out, "| → B has a pass it missed nothing of (table received) | %s |\n",
         seconds_text(r.table_received).c_str());
  append(out, "| → B says it is synced | %s |\n", seconds_text(r.synced).c_str());
  append(out, "| passes A completed; B's requests | %llu; %llu |\n", ull(r.passes), ull(r.requests));
  append(out, "| A's datagrams B missed (sequence gaps; before B listened too) | %llu of %llu (%.2f %%) |\n",
         ull(r.lost), ull(r.by_a.datagrams),
         100.0 * static_cast<double>(r.lost) / static_cast<double>(std::max<uint64_t>(1, r.by_a.datagrams)));
  append(out, "| in all, A sent | %s |\n", wire_text(r.by_a).c_str());
  append(out, "| in all, B took | %s |\n", wire_text(r.to_b).c_str());
  append(out, "| records B stored (new, or a later expiry) | %llu |\n", ull(r.stored));
  append(out, "| A asked B for B's table | %llu times |\n", ull(r.a_requests));
  append(out, "| in all, B sent A | %s |\n", wire_text(r.by_b).c_str());
  append(out, "| B's templates at the end | %llu of %llu |\n", ull(r.templates), ull(o.templates));
  append(out, "| sampled calls B places elsewhere than A | %llu of %llu |\n", ull(r.misplaced), ull(r.sampled));
  append(out, "| CPU time of A's sync thread (B's start → the end) | %.2f s |\n", r.a_cpu_seconds);
  return out;
}

struct Round {
  DataPath baseline;
  Resync resync;
};

std::string data_path_section(const std::vector<Round>& rounds, const Options& o, const Cpus& cpus) {
  std::string out = "\n## A's data path while it serves a resync\n\n";
  append(out,
         "decide() of calls A holds (template hits, spread over the table): %llu with no resync under way\n"
         "(baseline), then as many while A sends a new, empty B its table (stopped at the end of A's first pass),\n"
         "round after round; decide() on CPU %s, A's and B's sync threads on CPU %s. Wall time.\n\n",
         ull(o.decisions), cpu_list(cpus.data_path).c_str(), cpu_list(cpus.sync).c_str());
  out += "| round | baseline ns/decision | during resync ns/decision | decisions during | ratio | A's first pass "
         "| B synced after | A's sync CPU |\n|---|---|---|---|---|---|---|---|\n";
  std::vector<double> base, during;
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    const Round& r = rounds[i];
    const DataPath d = r.resync.during.value_or(DataPath{});
    base.push_back(r.baseline.ns_per_decision());
    during.push_back(d.ns_per_decision());
    std::optional<double> pass;
    if (r.resync.asked && r.resync.first_pass_sent) pass = *r.resync.first_pass_sent - *r.resync.asked;
    append(out, "| %zu | %.1f | %.1f | %llu | %.2f | %s | %s | %.2f s |\n", i + 1, base.back(), during.back(),
           ull(d.decisions), base.back() > 0 ? during.back() / base.back() : 0, seconds_text(pass).c_str(),
           seconds_text(r.resync.synced).c_str(), r.resync.a_cpu_seconds);
  }
  const double mb = median(base), md = median(during);
  append(out, "| **median** | **%.1f** | **%.1f** | | **%.2f** | | | |\n", mb, md, mb > 0 ? md / mb : 0);
  return out;
}

bool resync_ok(const Resync& r, const Options& o) {
  return r.stalled.empty() && r.templates == o.templates && r.misplaced == 0;
}

bool round_ok(const Round& r, const Options& o) {
  return resync_ok(r.resync, o) && r.baseline.misses == 0 && r.resync.during.value_or(DataPath{}).misses == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  std::array<double, 3> load{};
  ::getloadavg(load.data(), 3);
  try {
    std::fprintf(stderr, "%s: filling A with %llu templates\n", kProgram, ull(options.templates));
    ResyncBench bench(options);
    std::fprintf(stderr, "%s: B resyncs alone, then %llu rounds\n", kProgram, ull(options.rounds));
    const Resync alone = bench.resync(false);
    std::vector<Round> rounds;
    for (uint64_t i = 0; i < options.rounds; ++i) {
      const DataPath baseline = bench.baseline();
      rounds.push_back({baseline, bench.resync(true)});
    }
    const std::string report =
        machine_section(options, bench, load) + resync_section(alone, options) +
        data_path_section(rounds, options, bench.cpus());
    std::fputs(report.c_str(), stdout);
    if (!options.out.empty() && !(std::ofstream(options.out) << report))
      throw std::runtime_error("cannot write " + options.out);
    bool ok = resync_ok(alone, options);
    for (const Round& r : rounds) ok = ok && round_ok(r, options);
    if (!ok) std::fprintf(stderr, "%s: a resync failed or a known call missed (see the report)\n", kProgram);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
    return 1;
  }
}
