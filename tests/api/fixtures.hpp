#pragma once
// Shared by the API unit tests: a scratch directory and small configurations.
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "daemon/config/config_json.hpp"

namespace test {

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sipvsd-api-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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
