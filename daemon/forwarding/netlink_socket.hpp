#pragma once
// Internal to the forwarding back-ends: a libnl socket that closes itself.
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <string>

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

}  // namespace sipvsd
