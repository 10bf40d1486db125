#pragma once
// A real server as directors name it to each other (docs/sync-protocol.md):
// its service by protocol, VIP and port, or by fwmark, and the server by
// address and port, as template records name them; never by a director's
// own service name, slot or mark, which may differ from one to the next.
#include <cstdint>

#include "engine/engine_config.hpp"
#include "engine/ip_address.hpp"

namespace sipvs::sync {

struct ServerIdentity {
  uint8_t protocol = 0;  // 0 for a fwmark service, as its templates' key has it
  IpAddress vip;         // none for a fwmark service
  uint16_t vport = 0;    // 0 for a fwmark service
  uint32_t fwmark = 0;   // 0 for a service by VIP
  IpAddress server;
  uint16_t port = 0;  // the server's port as it takes calls (server_port): 0 only in a fwmark service

  friend bool operator==(const ServerIdentity&, const ServerIdentity&) = default;
};
// An order for sets and for which of many down servers an alive lists.
bool operator<(const ServerIdentity& a, const ServerIdentity& b);

// The name directors give to `server` of `service`: what Snapshot::by_identity
// and Engine::install_change look a record's service and server up by.
ServerIdentity server_identity(const ServiceConfig& service, const RealServerConfig& server);

}  // namespace sipvs::sync
