#pragma once
// Internal to the forwarding back-ends: a libnl socket that closes itself,
// and the back-ends' factories (make_forwarding picks one).
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/forwarding/forwarding.hpp"

namespace sipvsd {

class NetlinkSocket {
 public:
  explicit NetlinkSocket(int protocol) : sock_(nl_socket_alloc()) {
    if (!sock_) throw ForwardingError("netlink: out of memory");
    if (int err = nl_connect(sock_, protocol); err < 0) {
      nl_socket_free(sock_);
      throw ForwardingError(std::string("netlink: cannot connect: ") + nl_geterror(err));
    }
  }
  ~NetlinkSocket() { nl_socket_free(sock_); }  // closes it too
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  nl_sock* get() const { return sock_; }

 private:
  nl_sock* sock_;
};

// The routes of `tables` (sorted), both families. With strict dump checking
// (NETLINK_GET_STRICT_CHK, Linux 4.20) one RTM_GETROUTE per table carries
// RTA_TABLE and the kernel sends nothing of any other table; older kernels
// ignore the filter, so there it is one dump of every table, filtered here.
struct RouteDump {
  std::vector<fwd::Route> routes;
  std::size_t messages = 0;  // route messages the kernel sent
  bool strict = false;
};
RouteDump dump_routes(const ForwardingOptions& options, const std::vector<uint32_t>& tables);

std::unique_ptr<Forwarding> make_route_forwarding(const ForwardingOptions& options);
std::unique_ptr<Forwarding> make_ipvs_forwarding();  // throws ForwardingError(kNoIpvsMessage)
std::unique_ptr<Forwarding> make_no_forwarding();

}  // namespace sipvsd
