// The forwarding controller, the factory, and the `none` back-end (nothing to
// plan or apply: the operator keeps the kernel side, see `sipvsd rules`).
#include <algorithm>

#include "daemon/forwarding/forwarding.hpp"
#include "daemon/forwarding/ipvs_netlink.hpp"
#include "daemon/forwarding/route_netlink.hpp"
#include "daemon/log.hpp"

namespace sipvsd {

namespace {

class NoForwarding final : public Forwarding {
 public:
  std::string_view name() const override { return "none"; }
  ReconcileResult reconcile(const DaemonConfig&) override { return {}; }
  ReconcileResult remove_all() override { return {}; }
};

std::unique_ptr<Forwarding> make_no_forwarding() { return std::make_unique<NoForwarding>(); }

bool same_ranges(const ForwardingOptions& a, const ForwardingOptions& b) {
  return a.table_base == b.table_base && a.priority_base == b.priority_base;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

ReconcileResult failed(const DaemonConfig& config, const ForwardingError& e) {
  LOG_ERR("forwarding %s: %s", to_string(config.forwarding).data(), e.what());
  ReconcileResult r;
  r.errors.push_back(e.what());
  return r;
}

}  // namespace

std::unique_ptr<Forwarding> make_forwarding(const DaemonConfig& config) {
  switch (config.forwarding) {
    case ForwardingKind::none: return make_no_forwarding();
    case ForwardingKind::route: return make_route_forwarding(config.forwarding_options);
    case ForwardingKind::ipvs: return make_ipvs_forwarding();
  }
  throw ForwardingError("forwarding " + std::to_string(static_cast<int>(config.forwarding)) +
                        " is not one of none, route, ipvs");
}

DaemonConfig forwarding_during_change(const DaemonConfig& running, const DaemonConfig& next) {
  DaemonConfig both = next;
  if (running.forwarding != next.forwarding || running.mark_mask != next.mark_mask) return both;
  std::vector<uint32_t> marks;
  for (const auto& s : next.engine.services)
    for (const auto& r : s.servers) marks.push_back(r.mark);
  for (const auto& s : running.engine.services) {
    sipvs::ServiceConfig leaving = s;
    leaving.servers.clear();
    for (const auto& r : s.servers)
      if (std::find(marks.begin(), marks.end(), r.mark) == marks.end()) leaving.servers.push_back(r);
    if (!leaving.servers.empty()) both.engine.services.push_back(std::move(leaving));
  }
  return both;
}

void ForwardingController::start(const DaemonConfig& config) {
  sipvs::MutexLock lock(mutex_);
  backend_ = make_forwarding(config);
  kind_ = config.forwarding;
  options_ = config.forwarding_options;
  wanted_ = config;
  ReconcileResult r = reconcile_locked(config);
  if (kind_ != ForwardingKind::none)
    LOG_NOTICE("forwarding %s: %zu created, %zu changed, %zu removed, %zu already in place%s", to_string(kind_).data(),
               r.created, r.changed, r.removed, r.unchanged, r.ok() ? "" : " (with errors, retried every 10 s)");
}

void ForwardingController::prepare(const DaemonConfig& next) {
  sipvs::MutexLock lock(mutex_);
  if (backend_ && next.forwarding == kind_ && same_ranges(next.forwarding_options, options_)) return;
  prepared_ = make_forwarding(next);
}

ReconcileResult ForwardingController::reconcile(const DaemonConfig& config) {
  sipvs::MutexLock lock(mutex_);
  try {
    if (!backend_ || config.forwarding != kind_ || !same_ranges(config.forwarding_options, options_)) {
      std::unique_ptr<Forwarding> next =
          prepared_ && prepared_->name() == to_string(config.forwarding) ? std::move(prepared_)
                                                                         : make_forwarding(config);
      if (backend_) {
        LOG_NOTICE("forwarding changes from %s to %s: removing what %s set up", to_string(kind_).data(),
                   to_string(config.forwarding).data(), to_string(kind_).data());
        const ReconcileResult gone = backend_->remove_all();
        for (const auto& c : gone.changes) LOG_NOTICE("forwarding %s: %s", to_string(kind_).data(), c.c_str());
        for (const auto& e : gone.errors) LOG_ERR("forwarding %s: %s", to_string(kind_).data(), e.c_str());
      }
      backend_ = std::move(next);
      kind_ = config.forwarding;
    }
    prepared_.reset();
    options_ = config.forwarding_options;
    wanted_ = config;
    return reconcile_locked(config);
  } catch (const ForwardingError& e) {
    return failed(config, e);
  }
}

ReconcileResult ForwardingController::reconcile_again() {
  sipvs::MutexLock lock(mutex_);
  if (!backend_) return {};
  try {
    return reconcile_locked(wanted_);
  } catch (const ForwardingError& e) {
    return failed(wanted_, e);
  }
}

// Changes are logged one by one; problems and errors only when they differ
// from the previous run's, so a lasting one does not fill the log every 10 s.
ReconcileResult ForwardingController::reconcile_locked(const DaemonConfig& config) {
  ReconcileResult r = backend_->reconcile(config);
  for (const auto& c : r.changes) LOG_NOTICE("forwarding %s: %s", to_string(kind_).data(), c.c_str());
  std::vector<std::string> now = r.problems;
  now.insert(now.end(), r.errors.begin(), r.errors.end());
  if (now != last_problems_) {
    for (const auto& p : r.problems) LOG_WARN("forwarding %s: %s", to_string(kind_).data(), p.c_str());
    for (const auto& e : r.errors) LOG_ERR("forwarding %s: %s", to_string(kind_).data(), e.c_str());
    if (now.empty() && !last_problems_.empty()) LOG_NOTICE("forwarding %s: in place again", to_string(kind_).data());
    last_problems_ = std::move(now);
  }
  return r;
}

void ForwardingController::shutdown() {
  sipvs::MutexLock lock(mutex_);
  if (!backend_) return;
  if (!options_.remove_on_exit) {
    if (kind_ != ForwardingKind::none)
      LOG_INFO("forwarding %s: left in place (forwarding_options.remove_on_exit is false)", to_string(kind_).data());
    backend_.reset();
    return;
  }
  try {
    const ReconcileResult r = backend_->remove_all();
    for (const auto& c : r.changes) LOG_NOTICE("forwarding %s: %s", to_string(kind_).data(), c.c_str());
    for (const auto& e : r.errors) LOG_ERR("forwarding %s: %s", to_string(kind_).data(), e.c_str());
    if (!r.errors.empty())
      LOG_ERR("forwarding %s: removal incomplete: %s", to_string(kind_).data(), joined(r.errors).c_str());
  } catch (const ForwardingError& e) {
    LOG_ERR("forwarding %s: cannot remove: %s", to_string(kind_).data(), e.what());
  }
  backend_.reset();
}

}  // namespace sipvsd
