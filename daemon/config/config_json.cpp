#include "daemon/config/config_json.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/config/health_check_json.hpp"
#include "daemon/config/json_fields.hpp"
#include "daemon/config/queue_spec.hpp"
#include "daemon/config/service_json.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

namespace {

std::vector<uint16_t> get_queues(const json& v, const std::string& field) {
  std::vector<uint16_t> q;
  if (v.is_string()) {
    try {
      return parse_queue_spec(v.get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw ConfigFieldError(field, e.what());
    }
  }
  if (v.is_number()) {
    q.push_back(static_cast<uint16_t>(get_uint(v, field, 65535)));
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      q.push_back(static_cast<uint16_t>(get_uint(v[i], index(field, i), 65535)));
  } else {
    throw ConfigFieldError(field, "must be a range string (\"0-1\"), an array of numbers or a number");
  }
  std::sort(q.begin(), q.end());
  if (auto d = std::adjacent_find(q.begin(), q.end()); d != q.end())
    throw ConfigFieldError(field, "queue " + std::to_string(*d) + " is listed twice");
  return q;
}

DaemonConfig::Unplaced get_unplaced(const json& v) {
  const std::string s = get_string(v, "unplaced");
  const auto unplaced = unplaced_from_string(s);
  if (!unplaced) throw ConfigFieldError("unplaced", "\"" + s + "\" is not one of accept, drop");
  return *unplaced;
}

ForwardingKind get_forwarding(const json& v) {
  const std::string s = get_string(v, "forwarding");
  const auto kind = forwarding_kind_from_string(s);
  if (!kind) throw ConfigFieldError("forwarding", "\"" + s + "\" is not one of none, route, ipvs");
  return *kind;
}

}  // namespace

DaemonConfig config_from_json(const json& j) {
  expect_object(j, "");
  check_keys(j, "",
             {"queues", "queue_maxlen", "mark_mask", "unplaced", "max_templates", "max_new_templates_per_source",
              "per_source_prefix_v4", "per_source_prefix_v6", "udp_timeout", "debug_level", "state_file",
              "templates_save_interval", "forwarding", "forwarding_options", "api", "sync", "fast_path",
              "services"});
  DaemonConfig c;
  const json* v;
  if ((v = find(j, "queues"))) c.queues = get_queues(*v, "queues");
  if ((v = find(j, "queue_maxlen"))) c.queue_maxlen = static_cast<uint32_t>(get_uint(*v, "queue_maxlen", 0xffffffffu));
  if ((v = find(j, "mark_mask"))) c.mark_mask = get_mark(*v, "mark_mask");
  if ((v = find(j, "unplaced"))) c.unplaced = get_unplaced(*v);
  if ((v = find(j, "max_templates"))) c.engine.max_templates = get_uint(*v, "max_templates", UINT64_MAX);
  if ((v = find(j, "max_new_templates_per_source")))
    c.engine.max_new_templates_per_source =
        static_cast<uint32_t>(get_uint(*v, "max_new_templates_per_source", 0xffffffffu));
  if ((v = find(j, "per_source_prefix_v4")))
    c.engine.per_source_prefix_v4 = static_cast<unsigned>(get_uint(*v, "per_source_prefix_v4", 32));
  if ((v = find(j, "per_source_prefix_v6")))
    c.engine.per_source_prefix_v6 = static_cast<unsigned>(get_uint(*v, "per_source_prefix_v6", 128));
  if ((v = find(j, "templates_save_interval")))
    c.templates_save_interval = static_cast<uint32_t>(get_uint(*v, "templates_save_interval", 86400));
  if ((v = find(j, "udp_timeout"))) c.engine.udp_timeout = static_cast<uint32_t>(get_uint(*v, "udp_timeout", 0xffffffffu));
  if ((v = find(j, "debug_level"))) c.debug_level = static_cast<unsigned>(get_uint(*v, "debug_level", kMaxDebugLevel));
  if ((v = find(j, "state_file"))) c.state_file = get_string(*v, "state_file");
  if ((v = find(j, "forwarding"))) c.forwarding = get_forwarding(*v);
  if ((v = find(j, "forwarding_options"))) c.forwarding_options = forwarding_options_from_json(*v, "forwarding_options");
  if ((v = find(j, "api"))) c.api = api_from_json(*v, "api");
  if ((v = find(j, "sync"))) c.sync = sync_from_json(*v, "sync");
  if ((v = find(j, "fast_path"))) c.fast_path = fast_path_from_json(*v, "fast_path");
  if ((v = find(j, "services"))) {
    check_array(*v, "services", sipvs::kMaxServices, "services");
    for (std::size_t i = 0; i < v->size(); ++i) {
      CheckedService cs = checked_service_from_json((*v)[i], index("services", i));
      set_health_checks(c.health_checks, cs.service.name, std::move(cs.checks));
      c.engine.services.push_back(std::move(cs.service));
    }
  }
  return c;
}

DaemonConfig parse_config(const json& j) { return check_config(config_from_json(j)).daemon(); }

json to_json(const DaemonConfig& c) {
  json j;
  if (c.queues.size() == 1)
    j["queues"] = c.queues[0];
  else
    j["queues"] = queue_spec_to_string(c.queues);
  j["queue_maxlen"] = c.queue_maxlen;
  j["mark_mask"] = mark_to_string(c.mark_mask);
  j["unplaced"] = std::string(to_string(c.unplaced));
  j["max_templates"] = c.engine.max_templates;
  j["max_new_templates_per_source"] = c.engine.max_new_templates_per_source;
  j["per_source_prefix_v4"] = c.engine.per_source_prefix_v4;
  j["per_source_prefix_v6"] = c.engine.per_source_prefix_v6;
  j["udp_timeout"] = c.engine.udp_timeout;
  j["debug_level"] = c.debug_level;
  j["state_file"] = c.state_file;
  j["templates_save_interval"] = c.templates_save_interval;
  j["forwarding"] = std::string(to_string(c.forwarding));
  j["forwarding_options"] = forwarding_options_to_json(c.forwarding_options);
  j["api"] = api_to_json(c.api);
  j["sync"] = sync_to_json(c.sync);
  j["fast_path"] = fast_path_to_json(c.fast_path);
  j["services"] = json::array();
  for (const auto& s : c.engine.services) j["services"].push_back(service_to_json(s, c.health_checks));
  return j;
}

}  // namespace sipvsd
