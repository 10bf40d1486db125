#pragma once
// The configuration's "fast_path": the eBPF fast path on tc ingress
// (docs/fast-path.md). "auto", "on" or "off", or an object with the mode and
// where it goes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_config.hpp"

namespace sipvsd {

struct FastPathConfig {
  enum class Mode : uint8_t {
    off,
    automatic,  // "auto": on where the kernel and sipvsd's capabilities allow it, else NFQUEUE alone
    on,         // start-up fails if it cannot be loaded
  };
  Mode mode = Mode::off;
  // The interfaces whose tc ingress gets the program; empty: every interface
  // that is up at start-up but loopback.
  std::vector<std::string> interfaces;
  // Where the program and its maps are pinned (on a bpffs), so that the calls
  // they know keep their server while sipvsd restarts.
  std::string pin_dir = "/sys/fs/bpf/sipvsd";

  bool enabled() const { return mode != Mode::off; }
  friend bool operator==(const FastPathConfig&, const FastPathConfig&) = default;
};

std::string_view to_string(FastPathConfig::Mode m);

// The services the fast path places: UDP to a VIP:port with the `sip`
// persistence engine and persistence. The others' packets all go to NFQUEUE.
bool fast_path_serves(const sipvs::ServiceConfig& s);

// `field` names it in errors ("fast_path"). Throws ConfigFieldError.
FastPathConfig fast_path_from_json(const nlohmann::json& j, const std::string& field);
nlohmann::json fast_path_to_json(const FastPathConfig& f);

}  // namespace sipvsd
