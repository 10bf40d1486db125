// forwarding: ipvs — one IPVS fwmark service per real server, through the
// kernel's "IPVS" generic netlink family (libnl-genl-3). Equivalent of
//   ipvsadm -A -f MARK -s rr -o ; ipvsadm -a -f MARK -r RS -g|-i -w 1
// (plus its owner tag, fwd::kIpvsOwnerTimeout), but reconciled: services
// sipvsd owns are created, fixed or removed; no other service is touched.
#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <cstring>
#include <functional>

#include "daemon/forwarding/ipvs_netlink.hpp"
#include "daemon/forwarding/ipvs_plan.hpp"
#include "daemon/forwarding/netlink_socket.hpp"

namespace sipvsd {

namespace {

using namespace fwd;

struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;

sipvs::IpAddress address_from(const nlattr* a, uint16_t family) {
  uint8_t raw[16] = {};
  if (a) nla_memcpy(raw, a, sizeof raw);
  return family == kFamilyV6 ? sipvs::IpAddress::v6(raw) : sipvs::IpAddress::v4(raw);
}

// The nested attributes of one message, or false if it has none of `kind`.
bool nested(nl_msg* msg, int kind, int max, nlattr** out) {
  nlattr* top[IPVS_CMD_ATTR_MAX + 1];
  if (genlmsg_parse(nlmsg_hdr(msg), 0, top, IPVS_CMD_ATTR_MAX, nullptr) < 0 || !top[kind]) return false;
  return nla_parse_nested(out, max, top[kind], nullptr) == 0;
}

uint32_t u32_or(nlattr* a, uint32_t fallback) { return a ? nla_get_u32(a) : fallback; }

class Genl {
 public:
  Genl() : sock_(NETLINK_GENERIC) {
    family_ = genl_ctrl_resolve(sock_.get(), IPVS_GENL_NAME);
    if (family_ < 0) throw ForwardingError(kNoIpvsMessage);
  }

  MsgPtr message(uint8_t cmd, int flags) const {
    MsgPtr m(nlmsg_alloc());
    if (!m || !genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, flags, cmd, IPVS_GENL_VERSION))
      throw ForwardingError("netlink: out of memory");
    return m;
  }

  // Sends a request and waits for the kernel's answer; returns a libnl error (< 0) or 0.
  int request(MsgPtr m) {
    int err = nl_send_auto(sock_.get(), m.get());
    if (err < 0) return err;
    return nl_wait_for_ack(sock_.get());
  }

  // Sends a dump request; `each` sees every answer message.
  void dump(MsgPtr m, const std::function<void(nl_msg*)>& each, const char* what) {
    auto trampoline = [](nl_msg* msg, void* arg) -> int {
      (*static_cast<const std::function<void(nl_msg*)>*>(arg))(msg);
      return NL_OK;
    };
    nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, trampoline,
                        const_cast<std::function<void(nl_msg*)>*>(&each));
    int err = nl_send_auto(sock_.get(), m.get());
    if (err >= 0) err = nl_recvmsgs_default(sock_.get());
    nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_DEFAULT, nullptr, nullptr);
    if (err < 0) throw ForwardingError(std::string("IPVS: cannot list ") + what + ": " + nl_geterror(err));
  }

 private:
  NetlinkSocket sock_;
  int family_ = -1;
};

void put_or_throw(int err) {
  if (err < 0) throw ForwardingError(std::string("netlink message: ") + nl_geterror(err));
}

// IPVS_CMD_ATTR_SERVICE: the identity (family + fwmark), and with `full`
// the parameters a new or changed service needs.
void put_service(nl_msg* m, const IpvsService& s, bool full) {
  nlattr* n = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE);
  if (!n) put_or_throw(-NLE_NOMEM);
  put_or_throw(nla_put_u16(m, IPVS_SVC_ATTR_AF, s.family));
  put_or_throw(nla_put_u32(m, IPVS_SVC_ATTR_FWMARK, s.fwmark));
  if (full) {
    put_or_throw(nla_put_string(m, IPVS_SVC_ATTR_SCHED_NAME, s.scheduler.c_str()));
    ip_vs_flags flags{};
    flags.flags = s.flags;
    flags.mask = ~0u;
    put_or_throw(nla_put(m, IPVS_SVC_ATTR_FLAGS, sizeof flags, &flags));
    put_or_throw(nla_put_u32(m, IPVS_SVC_ATTR_TIMEOUT, s.timeout));
    put_or_throw(nla_put_u32(m, IPVS_SVC_ATTR_NETMASK, s.netmask));
  }
  nla_nest_end(m, n);
}

void put_dest(nl_msg* m, const IpvsDest& d, bool full) {
  nlattr* n = nla_nest_start(m, IPVS_CMD_ATTR_DEST);
  if (!n) put_or_throw(-NLE_NOMEM);
  uint8_t raw[16] = {};
  std::memcpy(raw, d.address.bytes.data(), d.address.is_v4() ? 4 : 16);
  put_or_throw(nla_put(m, IPVS_DEST_ATTR_ADDR, sizeof raw, raw));
  put_or_throw(nla_put_u16(m, IPVS_DEST_ATTR_PORT, htons(d.port)));
  if (full) {
    put_or_throw(nla_put_u32(m, IPVS_DEST_ATTR_FWD_METHOD, d.forward));
    put_or_throw(nla_put_u32(m, IPVS_DEST_ATTR_WEIGHT, d.weight));
    put_or_throw(nla_put_u32(m, IPVS_DEST_ATTR_U_THRESH, d.upper));
    put_or_throw(nla_put_u32(m, IPVS_DEST_ATTR_L_THRESH, d.lower));
  }
  nla_nest_end(m, n);
}

std::vector<IpvsService> dump_services(Genl& g) {
  std::vector<IpvsService> out;
  g.dump(
      g.message(IPVS_CMD_GET_SERVICE, NLM_F_DUMP),
      [&](nl_msg* msg) {
        nlattr* a[IPVS_SVC_ATTR_MAX + 1];
        if (!nested(msg, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_MAX, a) || !a[IPVS_SVC_ATTR_AF]) return;
        IpvsService s;
        s.family = nla_get_u16(a[IPVS_SVC_ATTR_AF]);
        s.fwmark = u32_or(a[IPVS_SVC_ATTR_FWMARK], 0);
        if (a[IPVS_SVC_ATTR_PROTOCOL]) s.protocol = nla_get_u16(a[IPVS_SVC_ATTR_PROTOCOL]);
        s.address = address_from(a[IPVS_SVC_ATTR_ADDR], s.family);
        if (a[IPVS_SVC_ATTR_PORT]) s.port = ntohs(nla_get_u16(a[IPVS_SVC_ATTR_PORT]));
        if (a[IPVS_SVC_ATTR_SCHED_NAME]) s.scheduler = nla_get_string(a[IPVS_SVC_ATTR_SCHED_NAME]);
        if (a[IPVS_SVC_ATTR_FLAGS]) {
          ip_vs_flags f{};
          nla_memcpy(&f, a[IPVS_SVC_ATTR_FLAGS], sizeof f);
          s.flags = f.flags;
        }
        s.timeout = u32_or(a[IPVS_SVC_ATTR_TIMEOUT], 0);
        s.netmask = u32_or(a[IPVS_SVC_ATTR_NETMASK], 0);
        out.push_back(std::move(s));
      },
      "services");
  for (IpvsService& s : out) {
    if (!owns(s)) continue;  // not sipvsd's: its destinations do not matter
    MsgPtr m = g.message(IPVS_CMD_GET_DEST, NLM_F_DUMP);
    put_service(m.get(), s, false);
    g.dump(
        std::move(m),
        [&](nl_msg* msg) {
          nlattr* a[IPVS_DEST_ATTR_MAX + 1];
          if (!nested(msg, IPVS_CMD_ATTR_DEST, IPVS_DEST_ATTR_MAX, a)) return;
          IpvsDest d;
          const uint16_t af = a[IPVS_DEST_ATTR_ADDR_FAMILY] ? nla_get_u16(a[IPVS_DEST_ATTR_ADDR_FAMILY]) : s.family;
          d.address = address_from(a[IPVS_DEST_ATTR_ADDR], af);
          if (a[IPVS_DEST_ATTR_PORT]) d.port = ntohs(nla_get_u16(a[IPVS_DEST_ATTR_PORT]));
          d.forward = u32_or(a[IPVS_DEST_ATTR_FWD_METHOD], 0) & IP_VS_CONN_F_FWD_MASK;
          d.weight = u32_or(a[IPVS_DEST_ATTR_WEIGHT], 0);
          d.upper = u32_or(a[IPVS_DEST_ATTR_U_THRESH], 0);
          d.lower = u32_or(a[IPVS_DEST_ATTR_L_THRESH], 0);
          s.dests.push_back(d);
        },
        "destinations");
  }
  return out;
}

class IpvsForwarding final : public Forwarding {
 public:
  IpvsForwarding() { Genl probe; }  // throws kNoIpvsMessage now, at start, not at the first reconcile
  std::string_view name() const override { return "ipvs"; }

  ReconcileResult reconcile(const DaemonConfig& config) override { return run(targets(config)); }
  ReconcileResult remove_all() override { return run({}); }

 private:
  ReconcileResult run(const std::vector<Target>& want) {
    Genl g;
    const IpvsPlan plan = plan_ipvs(want, dump_services(g));
    ReconcileResult res;
    res.unchanged = plan.unchanged;
    res.errors = plan.conflicts;  // refused: that mark does not work until the operator decides
    for (const IpvsAction& a : plan.actions) {
      using Kind = IpvsAction::Kind;
      uint8_t cmd = 0;
      bool full_service = false, with_dest = false, full_dest = false;
      std::size_t* counter = &res.changed;
      switch (a.kind) {
        case Kind::add_service: cmd = IPVS_CMD_NEW_SERVICE, full_service = true, counter = &res.created; break;
        case Kind::set_service: cmd = IPVS_CMD_SET_SERVICE, full_service = true; break;
        case Kind::delete_service: cmd = IPVS_CMD_DEL_SERVICE, counter = &res.removed; break;
        case Kind::add_dest: cmd = IPVS_CMD_NEW_DEST, with_dest = full_dest = true, counter = &res.created; break;
        case Kind::set_dest: cmd = IPVS_CMD_SET_DEST, with_dest = full_dest = true; break;
        case Kind::delete_dest: cmd = IPVS_CMD_DEL_DEST, with_dest = true, counter = &res.removed; break;
      }
      MsgPtr m = g.message(cmd, 0);
      put_service(m.get(), a.service, full_service);
      if (with_dest) put_dest(m.get(), a.dest, full_dest);
      if (int err = g.request(std::move(m)); err < 0) {
        res.errors.push_back(a.describe() + ": " + nl_geterror(err));
      } else {
        ++*counter;
        res.changes.push_back(a.describe());
      }
    }
    return res;
  }
};

}  // namespace

std::unique_ptr<Forwarding> make_ipvs_forwarding() { return std::make_unique<IpvsForwarding>(); }

}  // namespace sipvsd
