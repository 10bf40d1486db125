#include "daemon/datapath/neighbours.hpp"

#include <linux/neighbour.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/neighbour.h>
#include <netinet/in.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

namespace sipvsd {

namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

}  // namespace

std::vector<Neighbour> read_neighbours() {
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) throw NeighbourError("neighbours: out of memory");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0)
    throw NeighbourError(std::string("neighbours: cannot connect to rtnetlink: ") + nl_geterror(err));
  nl_cache* raw = nullptr;
  if (int err = rtnl_neigh_alloc_cache(sock.get(), &raw); err < 0)
    throw NeighbourError(std::string("cannot list neighbours: ") + nl_geterror(err));
  const std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
  std::vector<Neighbour> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* n = reinterpret_cast<rtnl_neigh*>(o);
    const int family = rtnl_neigh_get_family(n);
    if (family != AF_INET && family != AF_INET6) continue;
    if (rtnl_neigh_get_state(n) & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP)) continue;
    const nl_addr* dst = rtnl_neigh_get_dst(n);
    const nl_addr* ll = rtnl_neigh_get_lladdr(n);
    if (!dst || !ll) continue;
    const unsigned dst_len = nl_addr_get_len(dst), ll_len = nl_addr_get_len(ll);
    if (dst_len != (family == AF_INET ? 4u : 16u) || ll_len == 0 || ll_len > 8) continue;
    Neighbour& e = out.emplace_back();
    e.address.family = family == AF_INET ? sipvs::IpAddress::Family::v4 : sipvs::IpAddress::Family::v6;
    std::memcpy(e.address.bytes.data(), nl_addr_get_binary_addr(dst), dst_len);
    std::memcpy(e.lladdr.data(), nl_addr_get_binary_addr(ll), ll_len);
    e.lladdr_len = static_cast<uint8_t>(ll_len);
  }
  return out;
}

void resolve_neighbours(const std::vector<sipvs::IpAddress>& addresses) {
  constexpr uint16_t kDiscardPort = 9;
  for (const sipvs::IpAddress& a : addresses) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (a.is_v4()) {
      auto* s = reinterpret_cast<sockaddr_in*>(&ss);
      s->sin_family = AF_INET;
      s->sin_port = htons(kDiscardPort);
      std::memcpy(&s->sin_addr, a.bytes.data(), 4);
      len = sizeof *s;
    } else {
      auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
      s->sin6_family = AF_INET6;
      s->sin6_port = htons(kDiscardPort);
      std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
      len = sizeof *s;
    }
    const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    (void)::sendto(fd, "", 0, 0, reinterpret_cast<const sockaddr*>(&ss), len);
    ::close(fd);
  }
}

}  // namespace sipvsd
