// The scheduler names and their factories, listed explicitly: a scheduler that
// registered itself from a static initializer would be dropped by the linker
// when nothing else references its object file in the static library.
#include <array>

#include "engine/scheduler/scheduler_util.hpp"

namespace sipvs {
namespace {

struct Entry {
  std::string_view name;
  std::unique_ptr<Scheduler> (*make)(std::vector<SchedServer>);
};

constexpr std::array kSchedulers{
    Entry{"rr", detail::make_rr},   Entry{"wrr", detail::make_wrr}, Entry{"lc", detail::make_lc},
    Entry{"wlc", detail::make_wlc}, Entry{"sh", detail::make_sh},   Entry{"mh", detail::make_mh},
};

constexpr auto kNames = [] {
  std::array<std::string_view, kSchedulers.size()> names;
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = kSchedulers[i].name;
  return names;
}();

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(std::string_view name, std::vector<SchedServer> servers) {
  for (const Entry& e : kSchedulers)
    if (e.name == name) return e.make(std::move(servers));
  return nullptr;
}

std::span<const std::string_view> scheduler_names() { return kNames; }

}  // namespace sipvs
