#pragma once
// Schedulers pick a real server for a new template, as IPVS's ip_vs_scheduler.
// One is built from a service's servers whenever they, their weights or their
// health change, and shared by the snapshots in between; pick() is called by
// several worker threads at once and must be thread-safe and allocation-free.
// What changes with every call (live templates, a server at its max_calls)
// is read live at each pick.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/ip_address.hpp"

namespace sipvs {

struct SchedServer {
  IpAddress address;
  uint16_t port = 0;
  uint32_t weight = 1;  // 0 = quiesced: keeps its templates, gets no new ones
  bool up = true;       // health: a down server gets no new templates
  // Live templates pointing at this server (the "connections" of lc/wlc).
  const std::atomic<int64_t>* live_templates = nullptr;
  // Set while it is at its max_calls (IP_VS_DEST_F_OVERLOAD): it keeps its
  // templates and gets no new ones, and a pick tries the next candidate.
  const std::atomic<bool>* overloaded = nullptr;

  bool available() const { return weight > 0 && up; }
};

struct SchedRequest {
  IpAddress client;             // the client address (unmasked)
  uint16_t client_port = 0;
  std::string_view pe_data;     // empty when the service has no PE or it fell back
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string_view name() const = 0;
  // Index into the servers given at construction, or nullopt if none is
  // available or every available one is full.
  virtual std::optional<std::size_t> pick(const SchedRequest& request) = 0;
  // Takes up the position of `previous`, the scheduler this one replaces
  // after a change to the service's servers, before any pick: IPVS keeps a
  // round robin's cursor across such changes. Schedulers without a position
  // (hashing, least connections) have nothing to take up.
  virtual void continue_from(const Scheduler& previous) { (void)previous; }
};

// nullptr when `name` is not a scheduler.
std::unique_ptr<Scheduler> make_scheduler(std::string_view name, std::vector<SchedServer> servers);
std::span<const std::string_view> scheduler_names();

}  // namespace sipvs
