#include "sync/server_identity.hpp"

#include <tuple>

namespace sipvs::sync {

ServerIdentity server_identity(const ServiceConfig& service, const RealServerConfig& server) {
  ServerIdentity id;
  if (service.is_fwmark()) {
    id.fwmark = service.fwmark;
  } else {
    id.protocol = service.protocol;
    id.vip = service.vip;
    id.vport = service.port;
  }
  id.server = server.address;
  id.port = server_port(service, server);
  return id;
}

bool operator<(const ServerIdentity& a, const ServerIdentity& b) {
  const auto tied = [](const ServerIdentity& i) {
    return std::tie(i.fwmark, i.protocol, i.vip.family, i.vip.bytes, i.vport, i.server.family, i.server.bytes, i.port);
  };
  return tied(a) < tied(b);
}

}  // namespace sipvs::sync
