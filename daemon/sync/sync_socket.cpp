#include "daemon/sync/sync_socket.hpp"

#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "engine/ip_address.hpp"

namespace sipvsd {

namespace {

// A bulk resync arrives as tens of datagrams per 5 ms tick: the default
// receive buffer (208 KB) overflowed under one of a million templates.
constexpr int kSocketBuffer = 8 << 20;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void size_buffers(int fd) {
  // The FORCE forms pass net.core.rmem_max/wmem_max with CAP_NET_ADMIN, which
  // sipvsd has for its queues; without it the plain ones get what the limit allows.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
}

int open_bound(const Endpoint& at, const std::string& what) {
  const int fd = ::socket(at.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(what + ": socket");
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at.addr), at.len) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail(what);
  }
  size_buffers(fd);
  return fd;
}

unsigned interface_index(const SyncConfig& c) {
  const unsigned index = ::if_nametoindex(c.multicast.interface.c_str());
  if (index == 0) fail("sync.multicast.interface " + c.multicast.interface);
  return index;
}

ListenAddress listen_address(const SyncConfig& c) {
  const auto at = parse_listen_address(c.listen);
  if (!at) throw std::runtime_error("sync.listen " + c.listen + ": not an ip:port");
  return *at;
}

// Multicast out of `fd`: through the group's interface, c.multicast.ttl hops,
// not looped back to this host.
void send_to_group(int fd, const SyncConfig& c, sa_family_t family, unsigned index) {
  const int ttl = c.multicast.ttl, off = 0;
  bool ok;
  if (family == AF_INET) {
    ip_mreqn via{};
    via.imr_ifindex = static_cast<int>(index);
    ok = ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &via, sizeof via) == 0 &&
         ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == 0 &&
         ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off) == 0;
  } else {
    const int via = static_cast<int>(index);
    ok = ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &via, sizeof via) == 0 &&
         ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl) == 0 &&
         ::setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof off) == 0;
  }
  if (!ok) fail("sync.multicast: sending to " + c.multicast.group + " on " + c.multicast.interface);
}

}  // namespace

Endpoint endpoint_of(const ListenAddress& a) {
  Endpoint e;
  if (a.address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&e.addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(a.port);
    std::memcpy(&in->sin_addr, a.address.bytes.data(), 4);
    e.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    std::memcpy(&in6->sin6_addr, a.address.bytes.data(), 16);
    e.len = sizeof(sockaddr_in6);
  }
  return e;
}

Endpoint endpoint_of(const sockaddr_storage& from) {
  Endpoint e;
  e.addr = from;
  e.len = from.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  return e;
}

bool same_endpoint(const sockaddr_storage& a, const Endpoint& b) {
  if (a.ss_family != b.addr.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.addr);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b.addr);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

std::string to_string(const Endpoint& e) {
  if (e.addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(e.addr);
    return sipvs::IpAddress::v4(reinterpret_cast<const uint8_t*>(&in.sin_addr)).to_string(ntohs(in.sin_port));
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(e.addr);
  return sipvs::IpAddress::v6(reinterpret_cast<const uint8_t*>(&in6.sin6_addr)).to_string(ntohs(in6.sin6_port));
}

std::array<uint8_t, 19> channel_of(const Endpoint& to) {
  std::array<uint8_t, 19> c{};
  uint16_t port;
  if (to.addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(to.addr);
    c[0] = 4;
    std::memcpy(&c[1], &in.sin_addr, 4);
    port = in.sin_port;
  } else {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(to.addr);
    c[0] = 6;
    std::memcpy(&c[1], &in6.sin6_addr, 16);
    port = in6.sin6_port;
  }
  std::memcpy(&c[17], &port, 2);  // network order already
  return c;
}

int open_sync_socket(const SyncConfig& c, Endpoint& self) {
  self = endpoint_of(listen_address(c));
  const int fd = open_bound(self, "sync.listen " + c.listen);
  if (!c.multicast.enabled()) return fd;
  try {
    send_to_group(fd, c, self.addr.ss_family, interface_index(c));
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

int open_group_socket(const SyncConfig& c, Endpoint& group) {
  const unsigned index = interface_index(c);
  const auto address = sipvs::IpAddress::parse(c.multicast.group);
  if (!address) throw std::runtime_error("sync.multicast.group " + c.multicast.group + ": not an address");
  group = endpoint_of(ListenAddress{*address, listen_address(c).port});
  // A link-local IPv6 group (ff02::) is reached on one interface only.
  if (!address->is_v4()) reinterpret_cast<sockaddr_in6&>(group.addr).sin6_scope_id = index;
  const int fd = open_bound(group, "sync.multicast.group " + c.multicast.group);
  int rc;
  if (address->is_v4()) {
    ip_mreqn join{};
    join.imr_multiaddr = reinterpret_cast<const sockaddr_in&>(group.addr).sin_addr;
    join.imr_ifindex = static_cast<int>(index);
    rc = ::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join);
  } else {
    ipv6_mreq join{};
    join.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6&>(group.addr).sin6_addr;
    join.ipv6mr_interface = index;
    rc = ::setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &join, sizeof join);
  }
  if (rc != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    fail("sync.multicast: joining " + c.multicast.group + " on " + c.multicast.interface);
  }
  return fd;
}

}  // namespace sipvsd
