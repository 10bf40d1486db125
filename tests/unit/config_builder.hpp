#pragma once
// Engine configurations for tests: the pieces many of them repeat.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "engine/engine_config.hpp"

namespace test {

inline sipvs::RealServerConfig real_server(std::string_view address, uint32_t mark) {
  sipvs::RealServerConfig r;
  r.address = *sipvs::IpAddress::parse(address);
  r.mark = mark;
  return r;
}

// The IPv4 SIP service most tests use: VIP 198.18.2.100:5060, Call-ID
// persistence, one-packet scheduling, servers 198.18.1.1-3 with marks 1-3.
inline sipvs::ServiceConfig sip_service(std::string scheduler = "rr", uint32_t timeout = 60) {
  sipvs::ServiceConfig s;
  s.name = "sip";
  s.vip = *sipvs::IpAddress::parse("198.18.2.100");
  s.port = 5060;
  s.scheduler = std::move(scheduler);
  s.persistence_timeout = timeout;
  s.one_packet = true;
  s.pe = "sip";
  s.servers = {real_server("198.18.1.1", 1), real_server("198.18.1.2", 2), real_server("198.18.1.3", 3)};
  return s;
}

}  // namespace test
