// libFuzzer target for the file loaders: the first byte picks one, the rest
// is the file's text.
//   0: config file: parse_json_text + parse_config, then parse(to_json(c)) == c
//      and the state file written from it reads back as c;
//   1: state file: through ControlPlane::startup_config on a file in a
//      scratch directory, over a configuration with one service;
//   2: templates file: templates_from_json, written back and read again.
// Each loader may refuse its input only with the exceptions its callers
// catch (JsonSyntaxError, ConfigFieldError, UnusableFile); anything
// else, or a round trip that changes the value, traps.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_file.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/config/json_text.hpp"
#include "daemon/config/control_plane.hpp"
#include "fuzz_input.hpp"
#include "daemon/config/state_file.hpp"

namespace {

using namespace sipvsd;

[[noreturn]] void fail(const char* what) {
  printf("fuzz_loaders: %s\n", what);
  fflush(stdout);
  __builtin_trap();
}

const DaemonConfig& base_config() {
  static const DaemonConfig c = [] {
    DaemonConfig d = parse_config(parse_json_text(R"({
      "services": [{"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
                    "persistence_timeout": 120, "netmask": "0.0.0.0", "one_packet": true, "pe": "sip",
                    "servers": [{"address": "198.18.1.1", "port": 5060, "mark": 1},
                                {"address": "198.18.1.2", "port": 5060, "mark": 2}]}]})"));
    d.state_file = fuzz::scratch_dir() + "/state.json";
    return d;
  }();
  return c;
}

void config_file(std::string_view text) {
  DaemonConfig c;
  try {
    c = parse_config(parse_json_text(text));
  } catch (const JsonSyntaxError&) {
    return;
  } catch (const ConfigFieldError&) {
    return;
  }
  if (!(parse_config(to_json(c)) == c)) fail("config: parse(to_json(c)) != c");
  if (!(apply_state_file(c, state_file_text(c)) == c)) fail("config: its own state file changes it");
}

void state_file(std::string_view text) {
  const DaemonConfig& base = base_config();
  FILE* f = fopen(base.state_file.c_str(), "wb");
  if (!f || fwrite(text.data(), 1, text.size(), f) != text.size() || fclose(f) != 0) fail("cannot write state file");
  DaemonConfig c;
  try {
    c = ControlPlane::startup_config(base).daemon();
  } catch (const UnusableFile&) {
    return;
  }
  if (!(apply_state_file(base, state_file_text(c)) == c)) fail("state: written back, reads differently");
}

void templates_file(std::string_view text) {
  constexpr std::time_t now = 1'800'000'000;
  SavedTemplates saved;
  try {
    saved = templates_from_json(parse_json_text(text), now);
  } catch (const JsonSyntaxError&) {
    return;
  } catch (const ConfigFieldError&) {
    return;
  }
  for (const sipvs::TemplateInfo& t : saved.templates)
    if (t.expires_in == 0) fail("templates: an expired template was kept");
  const SavedTemplates again = templates_from_json(parse_json_text(templates_file_text(saved.templates, now)), now);
  if (again.templates.size() != saved.templates.size() || again.expired != 0) fail("templates: round trip");
  for (std::size_t i = 0; i < saved.templates.size(); ++i) {
    const sipvs::TemplateInfo &a = saved.templates[i], &b = again.templates[i];
    if (a.service != b.service || a.client != b.client || a.client_port != b.client_port ||
        a.server != b.server || a.server_port != b.server_port || a.pe_data != b.pe_data ||
        a.expires_in != b.expires_in)
      fail("templates: a template changed in the round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 3) {
      case 0: config_file(text); break;
      case 1: state_file(text); break;
      case 2: templates_file(text); break;
    }
  } catch (const std::exception& e) {
    fail(e.what());  // an exception no caller expects
  }
  return 0;
}
