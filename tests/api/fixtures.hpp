#pragma once
// Shared by the API unit tests: small configurations (and temp_dir.hpp).
#include <string>

#include "daemon/config/config_json.hpp"
#include "../unit/temp_dir.hpp"

namespace test {

// One SIP service (Call-ID persistence) with two real servers, marks 1 and 2.
inline sipvsd::DaemonConfig sip_config(const std::string& state_file = {}) {
  sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "services": [{"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
                  "persistence_timeout": 120, "netmask": "0.0.0.0", "one_packet": true, "pe": "sip",
                  "servers": [{"address": "198.18.1.1", "port": 5060, "mark": 1},
                              {"address": "198.18.1.2", "port": 5060, "mark": 2}]}]
  })"));
  c.state_file = state_file;
  return c;
}

}  // namespace test
