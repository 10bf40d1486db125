#include "daemon/config/fast_path_config.hpp"

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

namespace {

constexpr std::size_t kMaxInterfaces = 64;
constexpr std::size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1

FastPathConfig::Mode mode_from_json(const json& v, const std::string& field) {
  const std::string text = get_string(v, field);
  for (const auto m : {FastPathConfig::Mode::off, FastPathConfig::Mode::automatic, FastPathConfig::Mode::on})
    if (text == to_string(m)) return m;
  throw ConfigFieldError(field, "\"" + text + "\" is not one of auto, on, off");
}

}  // namespace

std::string_view to_string(FastPathConfig::Mode m) {
  switch (m) {
    case FastPathConfig::Mode::off: return "off";
    case FastPathConfig::Mode::automatic: return "auto";
    case FastPathConfig::Mode::on: return "on";
  }
  return "off";
}

bool fast_path_serves(const sipvs::ServiceConfig& s) {
  return !s.is_fwmark() && s.protocol == 17 && s.pe == "sip" && s.persistence_timeout > 0;
}

FastPathConfig fast_path_from_json(const json& j, const std::string& field) {
  FastPathConfig f;
  if (j.is_string()) {
    f.mode = mode_from_json(j, field);
    return f;
  }
  expect_object(j, field);
  check_keys(j, field, {"mode", "interfaces", "pin_dir"});
  const json* v;
  if ((v = find(j, "mode"))) f.mode = mode_from_json(*v, sub(field, "mode"));
  if ((v = find(j, "interfaces"))) {
    check_array(*v, sub(field, "interfaces"), kMaxInterfaces, "interfaces");
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string name_field = index(sub(field, "interfaces"), i);
      std::string name = get_string((*v)[i], name_field);
      if (name.empty() || name.size() > kMaxInterfaceName || name.find('/') != std::string::npos)
        throw ConfigFieldError(name_field, "\"" + name + "\" is not an interface name");
      f.interfaces.push_back(std::move(name));
    }
  }
  if ((v = find(j, "pin_dir"))) {
    f.pin_dir = get_string(*v, sub(field, "pin_dir"));
    if (f.pin_dir.empty() || f.pin_dir[0] != '/')
      throw ConfigFieldError(sub(field, "pin_dir"), "must be an absolute path on a bpffs (e.g. /sys/fs/bpf/sipvsd)");
  }
  return f;
}

json fast_path_to_json(const FastPathConfig& f) {
  return {{"mode", std::string(to_string(f.mode))}, {"interfaces", f.interfaces}, {"pin_dir", f.pin_dir}};
}

}  // namespace sipvsd
