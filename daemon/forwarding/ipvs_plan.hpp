#pragma once
// forwarding: ipvs, the plan — the fwmark services the targets need, and the
// difference to what IPVS has. Pure (no netlink), unit-tested.
// sipvsd owns only the fwmark services that carry its signature
// (kIpvsOwnerTimeout, see owns()). Any other service is left alone; one that
// holds a fwmark sipvsd needs is a conflict, reported and never taken over.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/forwarding/forwarding.hpp"
#include "daemon/forwarding/targets.hpp"

namespace sipvsd::fwd {

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

}  // namespace sipvsd::fwd
