#include "daemon/config/daemon_checks.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using namespace json_fields;

namespace {

// A probe leaves from local_address to the server: both of one family.
void check_probe_families(const DaemonConfig& c) {
  auto family_of = [](const std::string& local) { return sipvs::IpAddress::parse(local)->family; };
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& svc = c.engine.services[i];
    const auto hc = c.health_checks.find(svc.name);
    if (hc == c.health_checks.end()) continue;
    for (std::size_t k = 0; k < svc.servers.size(); ++k) {
      const auto& r = svc.servers[k];
      std::string field = sub(index("services", i), "health_check.local_address");
      const HealthCheckConfig* check = hc->second.enabled ? &hc->second.service : nullptr;
      for (const ServerHealthCheck& own : hc->second.servers)
        if (own.address == r.address && own.port == r.port) {
          check = &own.check;
          field = index(sub(index("services", i), "servers"), k) + ".health_check.local_address";
        }
      if (check && !check->local_address.empty() && family_of(check->local_address) != r.address.family)
        throw ConfigFieldError(field, check->local_address + " cannot probe " + r.address.to_string() +
                                          ": not the same address family");
    }
  }
}

}  // namespace

CheckedConfig check_config(DaemonConfig c) {
  if (c.queues.empty()) throw ConfigFieldError("queues", "at least one queue is needed");
  if (c.queues.size() > kMaxQueues)
    throw ConfigFieldError("queues", "at most " + std::to_string(kMaxQueues) + " queues (one worker each)");
  if (!std::is_sorted(c.queues.begin(), c.queues.end()) ||
      std::adjacent_find(c.queues.begin(), c.queues.end()) != c.queues.end())
    throw ConfigFieldError("queues", "must be ascending without duplicates");
  if (c.queue_maxlen == 0) throw ConfigFieldError("queue_maxlen", "must be at least 1");
  if (c.mark_mask == 0) throw ConfigFieldError("mark_mask", "must not be 0 (sipvsd needs some mark bits)");
  if (c.debug_level > kMaxDebugLevel)
    throw ConfigFieldError("debug_level", "must be between 0 and " + std::to_string(kMaxDebugLevel));
  check_forwarding(c);
  check_api(c.api);
  check_sync(c.sync);
  check_probe_families(c);
  auto engine = sipvs::validated(c.engine);
  if (auto* err = std::get_if<sipvs::ConfigError>(&engine)) throw ConfigFieldError(std::move(*err));
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& servers = c.engine.services[i].servers;
    for (std::size_t k = 0; k < servers.size(); ++k) {
      if ((servers[k].mark & ~c.mark_mask) != 0)
        throw ConfigFieldError(index(sub(index("services", i), "servers"), k) + ".mark",
                               mark_to_string(servers[k].mark) + " has bits outside mark_mask " +
                                   mark_to_string(c.mark_mask));
    }
  }
  return CheckedConfig(std::move(c), std::get<sipvs::ValidConfig>(std::move(engine)));
}

}  // namespace sipvsd
