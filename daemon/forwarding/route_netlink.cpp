// forwarding: route — fwmark policy routing through rtnetlink (libnl-route-3).
// Per real server: `ip rule fwmark MARK/MASK lookup T pref P proto 245` and in
// table T `VIP via RS proto 245` (direct routing: the packet keeps the VIP as
// its destination and leaves towards the real server's address).
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>

#include "daemon/forwarding/netlink_socket.hpp"
#include "daemon/forwarding/route_netlink.hpp"
#include "daemon/forwarding/route_plan.hpp"

namespace sipvsd {

namespace {

using namespace fwd;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using RulePtr = std::unique_ptr<rtnl_rule, Deleter<rtnl_rule, rtnl_rule_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;

sipvs::IpAddress from_nl(const nl_addr* a, uint8_t family) {
  sipvs::IpAddress out;
  out.family = family == kFamilyV6 ? sipvs::IpAddress::Family::v6 : sipvs::IpAddress::Family::v4;
  if (!a) return out;
  const unsigned len = nl_addr_get_len(a);
  if (len == 4 || len == 16) std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(a), len);
  return out;
}

AddrPtr to_nl(const sipvs::IpAddress& a, unsigned prefix) {
  const bool v4 = a.is_v4();
  AddrPtr p(nl_addr_build(v4 ? AF_INET : AF_INET6, a.bytes.data(), v4 ? 4 : 16));
  if (!p) throw ForwardingError("out of memory");
  nl_addr_set_prefixlen(p.get(), static_cast<int>(prefix));
  return p;
}

std::vector<Rule> dump_rules(nl_sock* sock) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_rule_alloc_cache(sock, AF_UNSPEC, &raw); err < 0)
    throw ForwardingError(std::string("cannot list ip rules: ") + nl_geterror(err));
  CachePtr cache(raw);
  std::vector<Rule> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_rule*>(o);
    Rule x;
    const int family = rtnl_rule_get_family(r);
    if (family != AF_INET && family != AF_INET6) continue;
    x.family = static_cast<uint8_t>(family);
    x.priority = rtnl_rule_get_prio(r);
    x.mark = rtnl_rule_get_mark(r);
    x.mask = rtnl_rule_get_mask(r);
    x.table = rtnl_rule_get_table(r);
    x.to_table = rtnl_rule_get_action(r) == FR_ACT_TO_TBL;
    uint8_t proto = 0;
    if (rtnl_rule_get_protocol(r, &proto) == 0) x.protocol = proto;
    out.push_back(x);
  }
  return out;
}

Route to_route(rtnl_route* r) {
  const uint8_t family = rtnl_route_get_family(r);
  Route x;
  x.family = family;
  x.table = rtnl_route_get_table(r);
  nl_addr* dst = rtnl_route_get_dst(r);
  x.dst = from_nl(dst, family);
  x.dst_len = dst ? static_cast<uint8_t>(nl_addr_get_prefixlen(dst)) : 0;
  x.protocol = rtnl_route_get_protocol(r);
  x.metric = rtnl_route_get_priority(r);
  if (rtnl_route_get_nnexthops(r) == 1) {
    if (nl_addr* gw = rtnl_route_nh_get_gateway(rtnl_route_nexthop_n(r, 0))) x.gateway = from_nl(gw, family);
  }
  return x;
}

struct DumpState {
  const ForwardingOptions& options;
  RouteDump& out;
  int error = 0;
};

// Runs for every route message the kernel sends; a route outside sipvsd's
// tables (the whole-table dump of kernels without strict checking) is
// skipped on its table number alone, before libnl parses it.
int on_route(nl_msg* msg, void* arg) {
  auto& d = *static_cast<DumpState*>(arg);
  nlmsghdr* nlh = nlmsg_hdr(msg);
  if (nlh->nlmsg_type != RTM_NEWROUTE || !nlmsg_valid_hdr(nlh, sizeof(rtmsg))) return NL_SKIP;
  ++d.out.messages;
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return NL_SKIP;
  const nlattr* t = nlmsg_find_attr(nlh, sizeof(rtmsg), RTA_TABLE);  // tables above 255
  const uint32_t table = t && nla_len(t) >= 4 ? nla_get_u32(t) : rtm->rtm_table;
  if (table < d.options.table_base || table - d.options.table_base >= kForwardingSlots) return NL_SKIP;
  rtnl_route* raw = nullptr;
  if (int err = rtnl_route_parse(nlh, &raw); err < 0) {
    d.error = err;
    return NL_STOP;
  }
  RoutePtr route(raw);
  try {
    d.out.routes.push_back(to_route(route.get()));
  } catch (const std::bad_alloc&) {  // never through libnl's C frames
    d.error = -NLE_NOMEM;
    return NL_STOP;
  }
  return NL_OK;
}

using MsgPtr = std::unique_ptr<nl_msg, Deleter<nl_msg, nlmsg_free>>;

// One RTM_GETROUTE dump of both families; with `table`, of that table only.
MsgPtr route_request(std::optional<uint32_t> table) {
  MsgPtr m(nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP));
  rtmsg header{};
  header.rtm_family = AF_UNSPEC;
  if (!m || nlmsg_append(m.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
      (table && nla_put_u32(m.get(), RTA_TABLE, *table) < 0))
    throw ForwardingError("out of memory");
  return m;
}

}  // namespace

RouteDump dump_routes(const ForwardingOptions& o, const std::vector<uint32_t>& tables) {
  using CbPtr = std::unique_ptr<nl_cb, Deleter<nl_cb, nl_cb_put>>;
  // A socket of its own: strict checking would make libnl's rule dump (a
  // bare rtgenmsg) invalid.
  NetlinkSocket sock(NETLINK_ROUTE);
  RouteDump out;
  const int on = 1;
  out.strict = setsockopt(nl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on) == 0;
  DumpState d{o, out, 0};
  const CbPtr own(nl_socket_get_cb(sock.get()));
  const CbPtr cb(nl_cb_clone(own.get()));
  if (!cb) throw ForwardingError("out of memory");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_route, &d);
  auto one_dump = [&](std::optional<uint32_t> table) {
    for (int attempt = 1;; ++attempt) {
      const std::size_t keep = out.routes.size();
      d.error = 0;
      MsgPtr m = route_request(table);
      int err = nl_send_auto(sock.get(), m.get());
      if (err >= 0) err = nl_recvmsgs(sock.get(), cb.get());
      if (err >= 0) err = d.error;
      if (err == -NLE_OBJ_NOTFOUND && table) err = 0;  // no such table (yet): nothing in it
      // Interrupted: the tables changed during the dump (libnl read it to its end).
      if (err == -NLE_DUMP_INTR && attempt < 3) {
        out.routes.resize(keep);
        continue;
      }
      if (err < 0) throw ForwardingError(std::string("cannot list routes: ") + nl_geterror(err));
      return;
    }
  };
  if (out.strict) {
    for (uint32_t t : tables) one_dump(t);
  } else {  // before Linux 4.20 the kernel ignores RTA_TABLE: one dump of every table
    one_dump(std::nullopt);
    std::erase_if(out.routes, [&](const Route& r) { return !std::binary_search(tables.begin(), tables.end(), r.table); });
  }
  return out;
}

namespace {

RulePtr make_rule(const Rule& x) {
  RulePtr r(rtnl_rule_alloc());
  if (!r) throw ForwardingError("out of memory");
  rtnl_rule_set_family(r.get(), x.family);
  rtnl_rule_set_prio(r.get(), x.priority);
  rtnl_rule_set_mark(r.get(), x.mark);
  rtnl_rule_set_mask(r.get(), x.mask);
  rtnl_rule_set_table(r.get(), x.table);
  if (x.to_table) rtnl_rule_set_action(r.get(), FR_ACT_TO_TBL);
  if (x.protocol) rtnl_rule_set_protocol(r.get(), x.protocol);
  return r;
}

RoutePtr make_route(const Route& x, bool with_metric) {
  RoutePtr r(rtnl_route_alloc());
  if (!r) throw ForwardingError("out of memory");
  rtnl_route_set_family(r.get(), x.family);
  rtnl_route_set_table(r.get(), x.table);
  rtnl_route_set_protocol(r.get(), x.protocol);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
  if (with_metric) rtnl_route_set_priority(r.get(), x.metric);
  AddrPtr dst = to_nl(x.dst.masked(x.dst_len), x.dst_len);
  if (int err = rtnl_route_set_dst(r.get(), dst.get()); err < 0)
    throw ForwardingError(std::string("route destination: ") + nl_geterror(err));
  if (x.gateway.family != sipvs::IpAddress::Family::none) {
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!nh) throw ForwardingError("out of memory");
    AddrPtr gw = to_nl(x.gateway, x.gateway.max_prefix());
    rtnl_route_nh_set_gateway(nh, gw.get());
    rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh now
  }
  return r;
}

class RouteForwarding final : public Forwarding {
 public:
  explicit RouteForwarding(const ForwardingOptions& o) : options_(o) {
    NetlinkSocket probe(NETLINK_ROUTE);  // fails early if rtnetlink is unusable
  }
  std::string_view name() const override { return "route"; }

  ReconcileResult reconcile(const DaemonConfig& config) override {
    return run(targets(config), config.mark_mask);
  }
  ReconcileResult remove_all() override { return run({}, 0xffffffff); }

 private:
  ReconcileResult run(const std::vector<Target>& want, uint32_t mark_mask) {
    NetlinkSocket sock(NETLINK_ROUTE);
    const std::vector<Rule> rules = dump_rules(sock.get());
    const RoutePlan plan =
        plan_routes(want, mark_mask, options_, rules, dump_routes(options_, route_tables(want, options_, rules)).routes);
    ReconcileResult res;
    res.unchanged = plan.unchanged;
    res.problems = plan.problems;
    auto done = [&](int err, const std::string& what, std::size_t& counter) {
      if (err < 0) {
        res.errors.push_back(what + ": " + nl_geterror(err));
      } else {
        ++counter;
        res.changes.push_back(what);
      }
    };
    for (const Route& r : plan.put_routes)
      done(rtnl_route_add(sock.get(), make_route(r, false).get(), NLM_F_CREATE | NLM_F_REPLACE),
           "put " + describe(r), res.created);
    for (const Rule& r : plan.add_rules)
      done(rtnl_rule_add(sock.get(), make_rule(r).get(), NLM_F_CREATE | NLM_F_EXCL), "added " + describe(r),
           res.created);
    for (const Rule& r : plan.delete_rules)
      done(rtnl_rule_delete(sock.get(), make_rule(r).get(), 0), "removed " + describe(r), res.removed);
    for (const Route& r : plan.delete_routes)
      done(rtnl_route_delete(sock.get(), make_route(r, true).get(), 0), "removed " + describe(r), res.removed);
    return res;
  }

  ForwardingOptions options_;
};

}  // namespace

std::unique_ptr<Forwarding> make_route_forwarding(const ForwardingOptions& options) {
  return std::make_unique<RouteForwarding>(options);
}

}  // namespace sipvsd
