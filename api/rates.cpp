#include "api/rates.hpp"

#include "api/server_id.hpp"

namespace sipvsd::api {

namespace {
std::string server_key(const std::string& service, const sipvs::ServerStats& s) {
  return service + "|" + server_id(s.address, s.port);
}
}  // namespace

void Rates::update(Entry& e, const sipvs::Counters& now, double seconds) {
  // A counter that went down belongs to a re-created object: no rate yet.
  if (seconds > 0 && now.packets >= e.last.packets && now.bytes >= e.last.bytes) {
    e.rate.packets_per_second = static_cast<double>(now.packets - e.last.packets) / seconds;
    e.rate.bytes_per_second = static_cast<double>(now.bytes - e.last.bytes) / seconds;
  } else {
    e.rate = Rate{};
  }
  e.last = now;
}

void Rates::sample(const sipvs::EngineStats& stats, std::chrono::steady_clock::time_point now) {
  const bool first = last_sample_ == std::chrono::steady_clock::time_point{};
  const double seconds = first ? 0 : std::chrono::duration<double>(now - last_sample_).count();
  last_sample_ = now;
  std::map<std::string, Entry> next;
  auto carry = [&](const std::string& key, const sipvs::Counters& c) {
    auto it = entries_.find(key);
    Entry e = it == entries_.end() ? Entry{c, Rate{}} : it->second;
    if (it != entries_.end()) update(e, c, seconds);
    next.emplace(key, e);
  };
  for (const auto& s : stats.services) {
    carry(s.name, s.counters);
    for (const auto& r : s.servers) carry(server_key(s.name, r), r.counters);
  }
  entries_ = std::move(next);  // objects that are gone drop out
}

Rate Rates::get(const std::string& key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? Rate{} : it->second.rate;
}

Rate Rates::service(const std::string& name) const { return get(name); }

Rate Rates::server(const std::string& service, const sipvs::ServerStats& server) const {
  return get(server_key(service, server));
}

}  // namespace sipvsd::api
