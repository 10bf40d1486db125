#pragma once
// Packet and byte rates per service and real server, like ipvsadm --rate:
// the counters are sampled every few seconds (by the API's own thread) and
// a rate is the change over the last interval. Not thread-safe: sampled and
// read on the API thread.
#include <chrono>
#include <map>
#include <string>

#include "engine/engine.hpp"

namespace sipvsd::api {

struct Rate {
  double packets_per_second = 0, bytes_per_second = 0;
};

class Rates {
 public:
  static constexpr std::chrono::seconds kInterval{2};

  void sample(const sipvs::EngineStats& stats, std::chrono::steady_clock::time_point now);
  Rate service(const std::string& name) const;
  Rate server(const std::string& service, const sipvs::ServerStats& server) const;

 private:
  struct Entry {
    sipvs::Counters last;
    Rate rate;
  };
  void update(Entry& e, const sipvs::Counters& now, double seconds);
  Rate get(const std::string& key) const;

  std::chrono::steady_clock::time_point last_sample_{};
  std::map<std::string, Entry> entries_;  // "service" or "service|server id"
};

}  // namespace sipvsd::api
