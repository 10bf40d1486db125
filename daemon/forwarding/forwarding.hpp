#pragma once
// Forwarding back-ends: what turns a packet mark into "send to real server R".
// sipvsd marks each packet (the verdict's mark); the kernel needs, per mark,
// either an IPVS fwmark service holding that one real server (`ipvs`) or a
// policy-routing rule and table that route the VIP via the real server
// (`route`). With `none` the operator sets that up (see `sipvsd rules`).
//
// Each back-end reconciles: it reads what the kernel has, computes the
// difference to what the configuration needs (a pure plan, unit-tested
// without a kernel: route_plan.hpp, ipvs_plan.hpp), creates what is missing,
// fixes what differs and removes what sipvsd created and no longer needs
// (route_netlink.cpp, ipvs_netlink.cpp). It never touches what it does not
// own (see each plan's owns()).
//
// This file: the interface of a back-end and the controller the daemon holds.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/daemon_config.hpp"
#include "engine/thread_safety.hpp"

namespace sipvsd {

// A back-end that cannot work at all (no IPVS in the kernel, no netlink).
class ForwardingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* kNoIpvsMessage =
    "the kernel has no IPVS: load ip_vs (modprobe ip_vs) or use forwarding: route";

// What one reconcile did. Errors are per object (one rule or service that
// the kernel refused); the next reconcile tries again.
struct ReconcileResult {
  std::size_t created = 0, changed = 0, removed = 0, unchanged = 0;
  std::vector<std::string> changes;   // "added rule ..." (logged at notice)
  std::vector<std::string> problems;  // conflicts with objects sipvsd does not own
  std::vector<std::string> errors;    // kernel refusals
  bool ok() const { return errors.empty(); }
};

class Forwarding {
 public:
  virtual ~Forwarding() = default;
  virtual std::string_view name() const = 0;
  // Makes the kernel match `config`. Throws ForwardingError only when the
  // kernel cannot be talked to at all; refusals of single objects go to
  // ReconcileResult::errors.
  virtual ReconcileResult reconcile(const DaemonConfig& config) = 0;
  // Removes everything this back-end owns (with the ownership of the last
  // reconciled configuration).
  virtual ReconcileResult remove_all() = 0;
};

// The back-end for config.forwarding ("none", "route", "ipvs"). Throws
// ForwardingError if it cannot work here (ipvs without IPVS: kNoIpvsMessage).
std::unique_ptr<Forwarding> make_forwarding(const DaemonConfig& config);

// What the kernel needs while the running configuration changes to `next`:
// `next` plus the real servers of `running` whose marks `next` drops, so that
// a mark works from before the engine hands it out until after it stopped.
DaemonConfig forwarding_during_change(const DaemonConfig& running, const DaemonConfig& next);

// The daemon's handle: one back-end at a time, serialised (the apply path and
// the periodic reconcile call it from different threads). Switching
// `forwarding` or forwarding_options at run time removes what the previous
// back-end owned, then reconciles with the new one.
class ForwardingController {
 public:
  // Creates the back-end and reconciles once. Throws ForwardingError.
  void start(const DaemonConfig& config);
  // Checks that `next` can be applied (creates its back-end if the kind
  // changes) without touching the kernel. Throws ForwardingError.
  void prepare(const DaemonConfig& next);
  // After a configuration change; logs, never throws. `config` becomes
  // what reconcile_again() restores.
  ReconcileResult reconcile(const DaemonConfig& config);
  // Periodically: puts back what others changed since (e.g. a flushed table).
  ReconcileResult reconcile_again();
  // Clean shutdown: leaves the kernel state unless remove_on_exit. Once.
  void shutdown();

 private:
  ReconcileResult reconcile_locked(const DaemonConfig& config) SIPVS_REQUIRES(mutex_);
  mutable sipvs::Mutex mutex_;
  std::unique_ptr<Forwarding> backend_ SIPVS_GUARDED_BY(mutex_);
  std::unique_ptr<Forwarding> prepared_ SIPVS_GUARDED_BY(mutex_);  // from prepare(), used by the next reconcile
  ForwardingKind kind_ SIPVS_GUARDED_BY(mutex_) = ForwardingKind::none;
  ForwardingOptions options_ SIPVS_GUARDED_BY(mutex_);
  DaemonConfig wanted_ SIPVS_GUARDED_BY(mutex_);  // the configuration last reconciled to
  std::vector<std::string> last_problems_ SIPVS_GUARDED_BY(mutex_);  // logged once until they change
};

}  // namespace sipvsd
