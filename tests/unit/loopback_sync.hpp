#pragma once
// Two directors' sync threads in one process, over the loopback: their ports,
// configurations and shared key. For the sync service's tests and its bench.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "daemon/config/sync_config.hpp"
#include "sync/authenticator.hpp"

namespace test {

// A loopback UDP port nobody holds right now.
inline uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&at), len) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!bound) throw std::runtime_error("no free loopback UDP port");
  return ntohs(at.sin_port);
}

// Director `node` on 127.0.0.1:own, its one peer on 127.0.0.1:peer.
inline sipvsd::SyncConfig loopback_sync(uint64_t node, uint16_t own, uint16_t peer, uint16_t sync_id) {
  sipvsd::SyncConfig c;
  c.node_id = node;
  c.sync_id = sync_id;
  c.listen = "127.0.0.1:" + std::to_string(own);
  c.peers = {"127.0.0.1:" + std::to_string(peer)};
  return c;
}

// The cluster's key (every byte `fill`).
inline sipvs::sync::Authenticator shared_key(uint8_t fill) {
  sipvs::sync::Key k;
  k.fill(fill);
  return sipvs::sync::Authenticator(k);
}

}  // namespace test
