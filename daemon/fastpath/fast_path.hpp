#pragma once
// sipvsd's side of the eBPF fast path (docs/fast-path.md). The program on tc
// ingress places the packets of calls whose templates it holds a copy of;
// sipvsd stays the authority. The engine, as the template mirror's owner
// (sipvs::TemplateMirror), hands it each template a packet was decided with
// and each one a peer sent, asks it whether an expiring template is still in
// use, and tells it which go.
//
// Threads: the constructor and set_services() are the control plane's; the
// mirror calls come from whoever holds the template's shard lock (used(): the
// queue workers; stored(): the sync thread; erased(): any), flush() from
// each queue worker for its own copies, stats() from anywhere. The copies a
// worker's packets make wait in PendingCopies, one per map, until its
// flush(), under that worker's own mutex (pending_copies.hpp); the rest are
// bpf(2) calls on descriptors fixed at construction (template_maps.hpp).
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/config/fast_path_config.hpp"
#include "daemon/fastpath/fast_path_abi.h"
#include "daemon/fastpath/pending_copies.hpp"
#include "daemon/fastpath/template_maps.hpp"
#include "engine/engine.hpp"
#include "engine/template_mirror.hpp"

struct sipvsd_fast_path;

namespace sipvsd {

class FastPathError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The program's counters (fast_path_abi.h enum sipvsd_fp_counter), summed over the CPUs.
struct FastPathStats {
  uint64_t hits = 0, misses = 0, stale = 0, no_call_id = 0, fragments = 0, unusual = 0;
  uint64_t remember_errors = 0;  // templates the map refused (full, out of memory)
};

class FastPath final : public sipvs::TemplateMirror {
 public:
  // Loads the program, takes over the pinned maps an earlier sipvsd left
  // (their calls keep their server) or pins new ones, and attaches it to tc
  // ingress of the interfaces. Throws FastPathError saying what failed.
  FastPath(const FastPathConfig& config, uint64_t max_templates);
  // Leaves the program attached and pinned: the calls it knows keep their
  // server while sipvsd is away.
  ~FastPath() = default;
  FastPath(const FastPath&) = delete;
  FastPath& operator=(const FastPath&) = delete;

  // The services it serves: UDP to a VIP:port with the `sip` persistence
  // engine and persistence. Others' packets go to NFQUEUE untouched.
  void set_services(const sipvs::EngineConfig& engine, uint32_t mark_mask);
  FastPathStats stats() const;
  const std::vector<std::string>& interfaces() const { return interfaces_; }

  uint32_t copy_expires(const sipvs::Template& t) override;
  void used(const sipvs::Template& t, const sipvs::ServiceConfig& service, const sipvs::RealServerConfig& server,
            unsigned decider) override;
  void flush(unsigned decider) override;
  void stored(const sipvs::Template& t, const sipvs::ServiceConfig& service,
              const sipvs::RealServerConfig& server) override;
  void erased(const sipvs::Template& t) override;

 private:
  void load(const FastPathConfig& config, uint64_t max_templates);
  void forget_pending(const sipvsd_fp_key& key);  // the copies of `key` no flush has written yet
  void attach(const std::string& interface);

  // Writes copies to their map, counting the ones it refuses.
  template <class Key>
  typename PendingCopies<Key>::Write writer() {
    return [this](const Key* keys, const sipvsd_fp_target* targets, std::size_t count) {
      if (std::size_t refused = maps_.write(keys, targets, count))
        remember_errors_.fetch_add(refused, std::memory_order_relaxed);
    };
  }

  struct SkeletonDeleter {
    void operator()(sipvsd_fast_path* skel) const;
  };
  std::unique_ptr<sipvsd_fast_path, SkeletonDeleter> skel_;
  TemplateMaps maps_{-1, -1};
  int services_fd_ = -1, stats_fd_ = -1;
  std::vector<std::string> interfaces_;
  std::vector<sipvsd_fp_service_key> served_;  // the services written last (control plane)
  mutable std::atomic<uint64_t> remember_errors_{0};
  PendingCopies<sipvsd_fp_key> pending_long_{writer<sipvsd_fp_key>()};
  PendingCopies<sipvsd_fp_short_key> pending_short_{writer<sipvsd_fp_short_key>()};
};

// The fast path the configuration asks for: none when off, or when `auto`
// and it cannot be loaded (said in the log). Throws FastPathError when `on`
// and it cannot. Off also removes one an earlier sipvsd left behind.
std::unique_ptr<FastPath> start_fast_path(const FastPathConfig& config, uint64_t max_templates);

}  // namespace sipvsd
