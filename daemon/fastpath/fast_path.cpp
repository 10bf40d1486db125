#include "daemon/fastpath/fast_path.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "daemon/log.hpp"
#include "engine/template_table.hpp"
#include "fast_path.skel.h"

namespace sipvsd {
namespace {

// sipvsd's filter on each ingress hook: replaced by the next sipvsd, found
// again to remove it; other filters on the hook are left alone.
constexpr uint32_t kTcHandle = 0x5195;
constexpr uint32_t kTcPriority = 0x5195;
// A hash map sizes its buckets from max_entries at creation: 16 M templates
// take 256 MB of buckets before the first call.
constexpr uint64_t kMaxMapEntries = uint64_t{1} << 24;
constexpr const char* kPins[] = {"templates", "templates_short", "services", "stats"};
constexpr const char* kProgramPin = "ingress";

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint8_t address_family(const sipvs::IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

sipvsd_fp_service_key service_key(const sipvs::ServiceConfig& s) {
  sipvsd_fp_service_key k{};
  k.family = address_family(s.vip);
  k.protocol = s.protocol;
  k.vport = htons(s.port);
  std::memcpy(k.vaddr, s.vip.bytes.data(), sizeof k.vaddr);
  return k;
}

// The persistence netmask as the program applies it to the client's address:
// the engine's masking (make_key) of an all-ones address of the VIP's family.
sipvs::IpAddress client_mask(const sipvs::ServiceConfig& s) {
  sipvs::IpAddress ones;
  ones.family = s.vip.family;
  std::fill_n(ones.bytes.begin(), s.vip.max_prefix() / 8, uint8_t{0xff});
  return ones.masked(s.netmask.value_or(ones.max_prefix()));
}

// sipvsd's filter on an interface's ingress hook: for attaching, replacing
// and detaching it.
struct IngressFilter {
  bpf_tc_hook hook{};
  bpf_tc_opts opts{};
  explicit IngressFilter(unsigned ifindex) {
    hook.sz = sizeof hook;
    hook.ifindex = static_cast<int>(ifindex);
    hook.attach_point = BPF_TC_INGRESS;
    opts.sz = sizeof opts;
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
  }
};

// The template's key as the program builds it from a packet.
sipvsd_fp_key template_key(const sipvs::TemplateKey& t, std::string_view call_id) {
  sipvsd_fp_key k{};
  k.service.family = t.vaddr_family == 4 ? AF_INET : AF_INET6;
  k.service.protocol = t.protocol;
  k.service.vport = htons(t.vport);
  std::memcpy(k.service.vaddr, t.vaddr, sizeof k.service.vaddr);
  std::memcpy(k.client, t.client, sizeof k.client);
  k.call_id_len = static_cast<uint8_t>(call_id.size());
  std::memcpy(k.call_id, call_id.data(), call_id.size());
  return k;
}

// What the program marks the packets of a template's call with.
sipvsd_fp_target copy_target(const sipvs::ServiceConfig& service, const sipvs::RealServerConfig& server,
                             uint64_t last_used_ns) {
  sipvsd_fp_target target{};
  target.mark = server.mark;
  target.timeout_s = service.persistence_timeout;
  std::memcpy(target.server, server.address.bytes.data(), sizeof target.server);
  target.server_port = sipvs::server_port(service, server);
  target.server_family = address_family(server.address);
  target.last_used_ns = last_used_ns;
  return target;
}

// Only templates of a VIP:port service with a Call-ID can have a copy.
bool may_have_copy(const sipvs::Template& t) {
  return t.key.pe_len > 0 && t.key.cport == 0 && t.key.fwmark == 0 && t.key.vaddr_family != 0 &&
         t.key.protocol == IPPROTO_UDP;
}

bool on_bpffs(const std::string& dir) {
  struct statfs fs {};
  return statfs(dir.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

std::vector<std::string> interfaces_up() {
  std::vector<std::string> names;
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return names;
  if (struct if_nameindex* all = if_nameindex()) {
    for (const struct if_nameindex* i = all; i->if_index != 0; ++i) {
      ifreq r{};
      std::strncpy(r.ifr_name, i->if_name, IFNAMSIZ - 1);
      if (ioctl(s, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP) && !(r.ifr_flags & IFF_LOOPBACK))
        names.emplace_back(i->if_name);
    }
    if_freenameindex(all);
  }
  close(s);
  return names;
}

// Removes sipvsd's filter from every interface's ingress, and the pins.
void remove_left_behind(const std::string& pin_dir) {
  if (struct if_nameindex* all = if_nameindex()) {
    for (const struct if_nameindex* i = all; i->if_index != 0; ++i) {
      IngressFilter f(i->if_index);
      if (bpf_tc_detach(&f.hook, &f.opts) == 0) LOG_NOTICE("fast path: removed from %s", i->if_name);
    }
    if_freenameindex(all);
  }
  for (const char* pin : kPins) unlink((pin_dir + "/" + pin).c_str());
  unlink((pin_dir + "/" + kProgramPin).c_str());
  rmdir(pin_dir.c_str());  // fails, harmlessly, where sipvsd may not write the parent (the unit's ExecStartPre made it)
}

}  // namespace

FastPath::FastPath(const FastPathConfig& config, uint64_t max_templates) {
  if (mkdir(config.pin_dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw FastPathError("cannot create " + config.pin_dir + ": " + errno_text(errno) + " (is a bpffs mounted there?)");
  if (!on_bpffs(config.pin_dir)) throw FastPathError(config.pin_dir + " is not on a bpffs (mount -t bpf bpf /sys/fs/bpf)");
  load(config, max_templates);
  interfaces_ = config.interfaces.empty() ? interfaces_up() : config.interfaces;
  if (interfaces_.empty()) throw FastPathError("no interface to attach to: none is up but loopback");
  for (const std::string& i : interfaces_) attach(i);
  const std::string prog_pin = config.pin_dir + "/" + kProgramPin;
  unlink(prog_pin.c_str());
  if (int err = bpf_program__pin(skel_->progs.sipvsd_ingress, prog_pin.c_str()))
    LOG_WARN("fast path: cannot pin the program at %s: %s", prog_pin.c_str(), errno_text(err).c_str());
}

void FastPath::SkeletonDeleter::operator()(sipvsd_fast_path* skel) const { sipvsd_fast_path__destroy(skel); }

void FastPath::load(const FastPathConfig& config, uint64_t max_templates) {
  // Pins without it come from a sipvsd with one map, whose short templates move.
  const bool had_short_map = access((config.pin_dir + "/templates_short").c_str(), F_OK) == 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    skel_.reset(sipvsd_fast_path__open());
    if (!skel_) throw FastPathError("cannot open the program: " + errno_text(errno));
    // Either map may have to hold them all: the Call-IDs' lengths are the callers' choice.
    const auto entries = static_cast<uint32_t>(std::clamp<uint64_t>(max_templates, 1, kMaxMapEntries));
    bpf_map__set_max_entries(skel_->maps.templates, entries);
    bpf_map__set_max_entries(skel_->maps.templates_short, entries);
    bpf_map__set_pin_path(skel_->maps.templates, (config.pin_dir + "/templates").c_str());
    bpf_map__set_pin_path(skel_->maps.templates_short, (config.pin_dir + "/templates_short").c_str());
    bpf_map__set_pin_path(skel_->maps.services, (config.pin_dir + "/services").c_str());
    bpf_map__set_pin_path(skel_->maps.stats, (config.pin_dir + "/stats").c_str());
    const int err = sipvsd_fast_path__load(skel_.get());
    if (err == 0) break;
    skel_.reset();
    // Maps pinned by another version, or for another max_templates, do not fit.
    if (attempt > 0 || access((config.pin_dir + "/templates").c_str(), F_OK) != 0)
      throw FastPathError("cannot load the program: " + errno_text(err));
    LOG_WARN("fast path: the maps pinned in %s do not fit this sipvsd (another version or max_templates): "
             "replacing them; calls only they knew go to NFQUEUE",
             config.pin_dir.c_str());
    for (const char* pin : kPins) unlink((config.pin_dir + "/" + pin).c_str());
  }
  maps_ = TemplateMaps(bpf_map__fd(skel_->maps.templates), bpf_map__fd(skel_->maps.templates_short));
  services_fd_ = bpf_map__fd(skel_->maps.services);
  stats_fd_ = bpf_map__fd(skel_->maps.stats);
  if (had_short_map) return;
  if (std::size_t moved = maps_.move_short_copies())
    LOG_NOTICE("fast path: moved %zu templates with short Call-IDs to their own map (left by an earlier sipvsd)",
               moved);
}

void FastPath::attach(const std::string& interface) {
  const unsigned index = if_nametoindex(interface.c_str());
  if (index == 0) throw FastPathError("no interface " + interface);
  IngressFilter f(index);
  if (int err = bpf_tc_hook_create(&f.hook); err != 0 && err != -EEXIST)
    throw FastPathError("cannot add a clsact qdisc to " + interface + ": " + errno_text(err));
  f.opts.prog_fd = bpf_program__fd(skel_->progs.sipvsd_ingress);
  f.opts.flags = BPF_TC_F_REPLACE;
  if (int err = bpf_tc_attach(&f.hook, &f.opts))
    throw FastPathError("cannot attach to " + interface + "'s ingress: " + errno_text(err));
}

void FastPath::set_services(const sipvs::EngineConfig& engine, uint32_t mark_mask) {
  std::vector<sipvsd_fp_service_key> now;
  for (const sipvs::ServiceConfig& s : engine.services) {
    if (!fast_path_serves(s)) continue;
    const sipvsd_fp_service_key k = service_key(s);
    sipvsd_fp_service v{};
    std::memcpy(v.client_mask, client_mask(s).bytes.data(), sizeof v.client_mask);
    v.mark_mask = mark_mask;
    if (int err = bpf_map_update_elem(services_fd_, &k, &v, BPF_ANY))
      LOG_ERR("fast path: cannot serve service %s: %s", s.name.c_str(), errno_text(err).c_str());
    now.push_back(k);
  }
  for (const sipvsd_fp_service_key& k : served_)
    if (std::none_of(now.begin(), now.end(), [&](const auto& n) { return std::memcmp(&n, &k, sizeof k) == 0; }))
      bpf_map_delete_elem(services_fd_, &k);
  served_ = std::move(now);
}

void FastPath::used(const sipvs::Template& t, const sipvs::ServiceConfig& service,
                    const sipvs::RealServerConfig& server, unsigned decider) {
  if (!may_have_copy(t) || !fast_path_serves(service)) return;
  // A learned call's key has the party the server called as its client: the engine made it.
  const sipvsd_fp_key key = template_key(t.key, t.pe());
  const sipvsd_fp_target target = copy_target(service, server, monotonic_ns());
  if (sipvsd_fp_key_is_short(&key))
    pending_short_.add(decider, short_key(key), target);
  else
    pending_long_.add(decider, key, target);
}

void FastPath::flush(unsigned decider) {
  pending_short_.flush(decider);
  pending_long_.flush(decider);
}

void FastPath::forget_pending(const sipvsd_fp_key& key) {
  if (sipvsd_fp_key_is_short(&key))
    pending_short_.forget(short_key(key));
  else
    pending_long_.forget(key);
}

void FastPath::stored(const sipvs::Template& t, const sipvs::ServiceConfig& service,
                      const sipvs::RealServerConfig& server) {
  if (!may_have_copy(t) || !fast_path_serves(service)) return;
  const sipvsd_fp_key key = template_key(t.key, t.pe());
  forget_pending(key);  // the peer's takes the place of the table's, as in the table
  // Used last when the peer says, so that it expires with the template;
  // unless the program here saw the call since (all directors active).
  const uint32_t timeout = service.persistence_timeout;
  uint64_t last_used_ns = t.expires > timeout ? uint64_t{t.expires - timeout} * 1'000'000'000u : 0;
  if (const std::optional<sipvsd_fp_target> known = maps_.find(key))
    last_used_ns = std::max<uint64_t>(last_used_ns, known->last_used_ns);
  const sipvsd_fp_target target = copy_target(service, server, last_used_ns);
  remember_errors_.fetch_add(maps_.write_one(key, target), std::memory_order_relaxed);
}

uint32_t FastPath::copy_expires(const sipvs::Template& t) {
  if (!may_have_copy(t)) return 0;
  const std::optional<sipvsd_fp_target> target = maps_.find(template_key(t.key, t.pe()));
  if (!target) return 0;
  return static_cast<uint32_t>(target->last_used_ns / 1'000'000'000u) + target->timeout_s;
}

void FastPath::erased(const sipvs::Template& t) {
  if (!may_have_copy(t)) return;
  const sipvsd_fp_key key = template_key(t.key, t.pe());
  forget_pending(key);
  maps_.erase(key);
}

FastPathStats FastPath::stats() const {
  const int cpus = libbpf_num_possible_cpus();
  std::array<uint64_t, SIPVSD_FP_COUNTERS> sums{};
  std::vector<uint64_t> per_cpu(static_cast<std::size_t>(std::max(cpus, 1)));
  for (uint32_t i = 0; i < SIPVSD_FP_COUNTERS; ++i)
    if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) == 0)
      for (uint64_t v : per_cpu) sums[i] += v;
  FastPathStats s;
  s.hits = sums[SIPVSD_FP_HIT];
  s.misses = sums[SIPVSD_FP_MISS];
  s.stale = sums[SIPVSD_FP_STALE];
  s.no_call_id = sums[SIPVSD_FP_NO_CALL_ID];
  s.fragments = sums[SIPVSD_FP_FRAGMENT];
  s.unusual = sums[SIPVSD_FP_UNUSUAL];
  s.remember_errors = remember_errors_.load(std::memory_order_relaxed);
  return s;
}

std::unique_ptr<FastPath> start_fast_path(const FastPathConfig& config, uint64_t max_templates) {
  if (!config.enabled()) {
    // Its pins, not the directory: the packaged unit makes that at every start.
    const std::string pins = config.pin_dir + "/";
    if (access((pins + kPins[0]).c_str(), F_OK) == 0 || access((pins + kProgramPin).c_str(), F_OK) == 0) {
      LOG_NOTICE("fast path off: removing the one an earlier sipvsd left in %s", config.pin_dir.c_str());
      remove_left_behind(config.pin_dir);
    }
    return nullptr;
  }
  try {
    auto f = std::make_unique<FastPath>(config, max_templates);
    std::string names;
    for (const std::string& i : f->interfaces()) names += (names.empty() ? "" : ", ") + i;
    LOG_NOTICE("fast path on: tc ingress of %s, maps pinned in %s", names.c_str(), config.pin_dir.c_str());
    return f;
  } catch (const FastPathError& e) {
    if (config.mode == FastPathConfig::Mode::on) throw;  // what an earlier sipvsd left serves on meanwhile
    LOG_NOTICE("fast path off (fast_path auto): %s; every packet goes through NFQUEUE", e.what());
    // Nothing will keep what is pinned or attached any more: its marks would go stale.
    remove_left_behind(config.pin_dir);
    return nullptr;
  }
}

}  // namespace sipvsd
