#pragma once
// Forwarding back-ends: what turns a packet mark into "send to real server R".
// sipvsd marks each packet (the verdict's mark); the kernel needs, per mark,
// either an IPVS fwmark service holding that one real server (`ipvs`) or a
// policy-routing rule and table that route the VIP via the real server
// (`route`). With `none` the operator sets that up (see `sipvsd rules`).
//
// Each back-end reconciles: it reads what the kernel has, computes the
// difference to what the configuration needs (the pure plan_* functions
// below, unit-tested without a kernel), creates what is missing, fixes what
// differs and removes what sipvsd created and no longer needs. It never
// touches what it does not own:
//  - route: rules whose priority AND table are in sipvsd's ranges AND that
//    carry sipvsd's protocol tag (kRouteProtocol), and routes with that tag in
//    sipvsd's tables;
//  - ipvs: fwmark services that carry sipvsd's signature (kIpvsOwnerTimeout,
//    see owns()). Any other service is left alone; one that holds a fwmark
//    sipvsd needs is a conflict, reported as an error and never taken over.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config_file.hpp"

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
  ReconcileResult reconcile_locked(const DaemonConfig& config);
  mutable std::mutex mutex_;
  std::unique_ptr<Forwarding> backend_;
  std::unique_ptr<Forwarding> prepared_;  // from prepare(), used by the next reconcile
  std::string kind_;
  ForwardingOptions options_;
  DaemonConfig wanted_;  // the configuration last reconciled to
  std::vector<std::string> last_problems_;  // logged once until they change
};

namespace fwd {

// sipvsd's tag on its rules (FRA_PROTOCOL) and routes (rtm_protocol). Not in
// iproute2's rt_protos list; `ip rule`/`ip route` show it as "proto 245".
inline constexpr uint8_t kRouteProtocol = 245;
inline constexpr uint8_t kFamilyV4 = 2;    // AF_INET
inline constexpr uint8_t kFamilyV6 = 10;   // AF_INET6

uint8_t family_of(const sipvs::IpAddress& a);

// One mark's desired forwarding, from one real server of the configuration.
struct Target {
  std::string service;     // for messages
  uint32_t mark = 0;
  sipvs::IpAddress server;
  uint16_t port = 0;       // IPVS destination port (0: keep the packet's)
  sipvs::IpAddress vip;    // routed destination; family none for fwmark services (default route)
  sipvs::Forward method = sipvs::Forward::dr;
};
// Every real server of every service, sorted by mark.
std::vector<Target> targets(const DaemonConfig& config);

// ---- route ----

struct Rule {
  uint8_t family = kFamilyV4;
  uint32_t priority = 0, mark = 0, mask = 0xffffffff, table = 0;
  uint8_t protocol = 0;
  bool to_table = true;  // action FR_ACT_TO_TBL ("lookup")
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Route {
  uint8_t family = kFamilyV4;
  uint32_t table = 0;
  sipvs::IpAddress dst;  // family set even for a default route (all zero, dst_len 0)
  uint8_t dst_len = 0;
  sipvs::IpAddress gateway;  // family none: no gateway
  uint8_t protocol = 0;
  uint32_t metric = 0;      // as dumped (IPv6 routes get 1024); used to delete
  friend bool operator==(const Route&, const Route&) = default;
};

std::string describe(const Rule& r);   // "ip rule fwmark 0x1/0xff lookup 20000 pref 20000 proto 245"
std::string describe(const Route& r);  // "ip route 198.18.2.100/32 via 198.18.3.2 table 20000 proto 245"

bool owns(const Rule& r, const ForwardingOptions& o);
bool owns(const Route& r, const ForwardingOptions& o);

struct RoutePlan {
  std::vector<Rule> add_rules, delete_rules;
  std::vector<Route> put_routes, delete_routes;  // put = create or replace
  std::size_t unchanged = 0;
  std::vector<std::string> problems;
  bool empty() const {
    return add_rules.empty() && delete_rules.empty() && put_routes.empty() && delete_routes.empty();
  }
};

// Desired vs actual. Each target gets a slot i (table table_base+i, rule
// priority priority_base+i); a mark keeps the slot its rule has in the kernel
// so that unrelated changes never move it. Apply in this order: put routes,
// add rules, delete rules, delete routes (no moment without a route for a
// mark that keeps one).
RoutePlan plan_routes(const std::vector<Target>& targets, uint32_t mark_mask, const ForwardingOptions& options,
                      const std::vector<Rule>& rules, const std::vector<Route>& routes);

// The tables whose routes plan_routes needs, asked for one by one (the kernel
// filters a dump by one table, not by a range): those of sipvsd's rules, and
// the lowest slots, enough for every target and rule (slots are handed out
// lowest first, so sipvsd's routes sit there). Sorted.
std::vector<uint32_t> route_tables(const std::vector<Target>& targets, const ForwardingOptions& options,
                                   const std::vector<Rule>& rules);

// ---- ipvs ----

inline constexpr uint32_t kFwdMasq = 0, kFwdTunnel = 2, kFwdDirect = 3;  // IP_VS_CONN_F_*
inline constexpr uint32_t kSvcPersistent = 0x1, kSvcHashed = 0x2, kSvcOnePacket = 0x4;  // IP_VS_SVC_F_*
// sipvsd's owner tag on its IPVS services. IPVS has no owner field, so
// sipvsd sets a persistence timeout of 245 s (the number of its route
// protocol) on services WITHOUT persistence. The kernel keeps and reports the
// timeout whatever the flags, so the tag survives sipvsd's restarts, and it
// ignores it without persistence, so it changes nothing. ipvsadm and
// keepalived only ever set a timeout together with persistence (-p), so no
// service of theirs carries it (ipvsadm does not even show it).
inline constexpr uint32_t kIpvsOwnerTimeout = 245;

struct IpvsDest {
  sipvs::IpAddress address;
  uint16_t port = 0;
  uint32_t forward = kFwdDirect;
  uint32_t weight = 1;
  uint32_t upper = 0, lower = 0;  // connection thresholds
  friend bool operator==(const IpvsDest&, const IpvsDest&) = default;
};

struct IpvsService {
  uint16_t family = kFamilyV4;
  uint32_t fwmark = 0;  // 0: a service by protocol/address/port (never sipvsd's)
  uint16_t protocol = 0;
  sipvs::IpAddress address;
  uint16_t port = 0;
  std::string scheduler;
  uint32_t flags = 0;
  uint32_t timeout = 0;
  uint32_t netmask = 0;  // IPv4: mask (0xffffffff), IPv6: prefix length
  std::vector<IpvsDest> dests;
};

std::string describe(const IpvsService& s);  // "fwmark 0x1 (IPv4) rr one-packet"
std::string describe(const IpvsService& s, const IpvsDest& d);  // "fwmark 0x1 -> 198.18.3.2 dr"

struct IpvsAction {
  enum class Kind { add_service, set_service, delete_service, add_dest, set_dest, delete_dest } kind;
  IpvsService service;  // identity (family, fwmark) plus the wanted parameters
  IpvsDest dest;
  std::string describe() const;
};

struct IpvsPlan {
  std::vector<IpvsAction> actions;  // in order
  std::size_t unchanged = 0;
  std::vector<std::string> conflicts;  // a foreign service holds a fwmark sipvsd needs
};

// The service sipvsd wants for a target: fwmark = mark, rr, one-packet, no
// persistence, timeout kIpvsOwnerTimeout, one destination with weight 1 (the
// engine weighs; IPVS must never find its only destination quiesced) and the
// target's method. Throws ForwardingError for masq.
IpvsService wanted_service(const Target& t);
// sipvsd created it: a fwmark service without persistence whose timeout is
// kIpvsOwnerTimeout. Nothing else (mark, mask, scheduler) makes it sipvsd's.
bool owns(const IpvsService& s);
// Services sipvsd owns are created, fixed or removed; a wanted (family,
// fwmark) held by a service sipvsd does not own is left as it is and named
// in `conflicts`.
IpvsPlan plan_ipvs(const std::vector<Target>& targets, const std::vector<IpvsService>& actual);

}  // namespace fwd
}  // namespace sipvsd
