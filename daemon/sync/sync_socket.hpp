#pragma once
// The sync thread's UDP sockets: one bound to this director's sync address
// (it sends everything and takes what peers send to it) and, with a
// multicast group, one bound to the group and joined on its interface.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

#include "daemon/config/api_config.hpp"
#include "daemon/config/sync_config.hpp"

namespace sipvsd {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Endpoint endpoint_of(const ListenAddress& a);
// A datagram's source, as received.
Endpoint endpoint_of(const sockaddr_storage& from);
bool same_endpoint(const sockaddr_storage& a, const Endpoint& b);
std::string to_string(const Endpoint& e);  // "198.18.1.1:8848", "[2001:2::1]:8848"
// What a datagram's MAC is bound to (Authenticator::for_channel): the
// destination's family (4, 6), address (16 bytes) and port (big-endian).
std::array<uint8_t, 19> channel_of(const Endpoint& to);

// Both throw std::runtime_error naming the setting and the reason.
// Bound to sync.listen, buffers sized for bulk resyncs; with a group, set to
// send there (its interface, its TTL, no loop back). Sets `self` to where it is bound.
int open_sync_socket(const SyncConfig& c, Endpoint& self);
// Bound to the group on sync.listen's port, joined on its interface; sets `group` to where it is sent.
int open_group_socket(const SyncConfig& c, Endpoint& group);

}  // namespace sipvsd
