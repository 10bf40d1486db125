#include "daemon/datapath/sender_map.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace sipvsd {

std::optional<uint64_t> SenderMap::key(std::span<const uint8_t> lladdr) {
  if (lladdr.empty() || lladdr.size() > 8) return std::nullopt;
  uint64_t k = 0;
  for (const uint8_t b : lladdr) k = k << 8 | b;
  // Shorter addresses leave the top byte free: their length keeps them apart.
  if (lladdr.size() < 8) k |= uint64_t{lladdr.size()} << 56;
  return k;
}

SenderMap::SenderMap(const std::vector<Neighbour>& neighbours, const std::vector<sipvs::IpAddress>& servers) {
  std::vector<std::pair<uint64_t, sipvs::IpAddress>> pairs;
  for (const Neighbour& n : neighbours) {
    if (std::find(servers.begin(), servers.end(), n.address) == servers.end()) continue;
    if (const auto k = key({n.lladdr.data(), n.lladdr_len})) pairs.emplace_back(*k, n.address);
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.bytes < b.second.bytes;
  });
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  for (const auto& [k, address] : pairs) {
    if (hosts_.empty() || hosts_.back().lladdr != k)
      hosts_.push_back({k, static_cast<uint32_t>(addresses_.size()), 0});
    ++hosts_.back().count;
    addresses_.push_back(address);
  }
}

std::span<const sipvs::IpAddress> SenderMap::addresses(std::span<const uint8_t> lladdr) const {
  const auto k = key(lladdr);
  if (!k) return {};
  const auto it = std::lower_bound(hosts_.begin(), hosts_.end(), *k, [](const Host& h, uint64_t v) { return h.lladdr < v; });
  if (it == hosts_.end() || it->lladdr != *k) return {};
  return {addresses_.data() + it->first, it->count};
}

bool SenderMaps::publish(SenderMap map) {
  sipvs::MutexLock lock(mutex_);
  if (*current_ == map) return false;
  current_ = std::make_shared<const SenderMap>(std::move(map));
  generation_.fetch_add(1, std::memory_order_release);
  return true;
}

void SenderMaps::View::refresh() {
  const uint64_t g = maps_->generation_.load(std::memory_order_acquire);
  if (g == generation_) return;
  const std::shared_ptr<const SenderMap> previous = std::move(map_);  // released after the lock
  sipvs::MutexLock lock(maps_->mutex_);
  map_ = maps_->current_;
  generation_ = maps_->generation_.load(std::memory_order_relaxed);
}

}  // namespace sipvsd
