#include "daemon/health/server_health_agreement.hpp"

#include <algorithm>

#include "daemon/log.hpp"

namespace sipvsd {

namespace {

using sipvs::ServerHealth;
using sipvs::sync::ServerIdentity;
using CheckedServer = ServerHealthAgreement::CheckedServer;

bool is(const CheckedServer& s, std::string_view service, const sipvs::IpAddress& address, uint16_t port) {
  return s.service == service && s.address == address && s.port == port;
}

std::string server_text(const CheckedServer& s) {
  return s.identity.port != 0 ? s.address.to_string(s.identity.port) : s.address.to_string();
}

// "this director", "director 2", "this director and directors 2, 3".
std::string directors_text(bool here, const std::vector<uint64_t>& peers) {
  std::string out = here ? "this director" : "";
  if (peers.empty()) return out;
  if (here) out += " and ";
  out += peers.size() == 1 ? "director " : "directors ";
  for (std::size_t i = 0; i < peers.size(); ++i) out += (i ? ", " : "") + std::to_string(peers[i]);
  return out;
}

}  // namespace

ServerHealthAgreement::Entry* ServerHealthAgreement::find(std::string_view service, const sipvs::IpAddress& address,
                                                          uint16_t port) {
  const auto it = std::ranges::find_if(entries_, [&](const Entry& e) { return is(e.server, service, address, port); });
  return it == entries_.end() ? nullptr : &*it;
}

void ServerHealthAgreement::checked(std::vector<CheckedServer> servers) {
  sipvs::MutexLock lock(mutex_);
  const std::vector<ServerIdentity> announced = local_down_locked();
  std::vector<Entry> next;
  next.reserve(servers.size());
  for (CheckedServer& s : servers) {
    const Entry* old = find(s.service, s.address, s.port);
    next.push_back({std::move(s), old && old->down});
  }
  for (const Entry& e : entries_) {
    const bool kept = std::ranges::any_of(
        next, [&](const Entry& n) { return is(n.server, e.server.service, e.server.address, e.server.port); });
    if (!kept && e.down) release(e);
  }
  entries_ = std::move(next);
  if (local_down_locked() != announced) ++local_changes_;
  for (Entry& e : entries_) settle(e, "");
}

void ServerHealthAgreement::local_view(std::string_view service, const sipvs::IpAddress& address, uint16_t port,
                                       bool down) {
  sipvs::MutexLock lock(mutex_);
  Entry* e = find(service, address, port);
  if (!e || e->server.down == down) return;
  e->server.down = down;
  ++local_changes_;
  settle(*e, "");
  if (!down && e->down)
    LOG_INFO("health agreement: service %s server %s is up for this director's probes, still DOWN: seen down by %s",
             e->server.service.c_str(), server_text(e->server).c_str(), directors_text(false, seeing_down(*e)).c_str());
}

void ServerHealthAgreement::peer_view(uint64_t node, std::span<const ServerIdentity> down) {
  if (!shared_) return;
  std::set<ServerIdentity> view(down.begin(), down.end());
  sipvs::MutexLock lock(mutex_);
  const auto [it, added] = peers_.try_emplace(node);
  if (!added && it->second == view) return;  // the same, said again every second
  it->second = std::move(view);
  settle_all("");
}

void ServerHealthAgreement::forget_peer(uint64_t node) {
  sipvs::MutexLock lock(mutex_);
  if (peers_.erase(node) == 0) return;
  settle_all(" (director " + std::to_string(node) + " went silent)");
}

std::vector<ServerIdentity> ServerHealthAgreement::local_down() const {
  sipvs::MutexLock lock(mutex_);
  return local_down_locked();
}

std::vector<ServerIdentity> ServerHealthAgreement::local_down_locked() const {
  std::vector<ServerIdentity> out;
  for (const Entry& e : entries_)
    if (e.server.down) out.push_back(e.server.identity);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint64_t> ServerHealthAgreement::peers_seeing_down(std::string_view service,
                                                               const sipvs::IpAddress& address, uint16_t port) const {
  sipvs::MutexLock lock(mutex_);
  const auto it =
      std::ranges::find_if(entries_, [&](const Entry& e) { return is(e.server, service, address, port); });
  return it == entries_.end() ? std::vector<uint64_t>{} : seeing_down(*it);
}

// The live peers whose view has the server down, by node id.
std::vector<uint64_t> ServerHealthAgreement::seeing_down(const Entry& e) const {
  std::vector<uint64_t> out;
  for (const auto& [node, view] : peers_)
    if (view.contains(e.server.identity)) out.push_back(node);
  return out;
}

// Tells the engine what the agreement makes of the server now, if that
// changed. The health checker logs its own probes' verdicts: only a shared
// agreement has more to say.
void ServerHealthAgreement::settle(Entry& e, std::string_view cause) {
  const std::vector<uint64_t> peers = seeing_down(e);
  const bool down = e.server.down || !peers.empty();
  if (down == e.down) return;
  e.down = down;
  engine_.set_server_health(e.server.service, e.server.address, e.server.port,
                            down ? e.server.when_down : ServerHealth::up);
  if (!shared_) return;
  if (down)
    LOG_NOTICE("health agreement: service %s server %s is DOWN: seen down by %s%s", e.server.service.c_str(),
               server_text(e.server).c_str(), directors_text(e.server.down, peers).c_str(),
               e.server.when_down == ServerHealth::down_expiring ? "; its templates expired, calls move"
                                                                 : "; its templates kept");
  else
    LOG_NOTICE("health agreement: service %s server %s is UP: every director sees it up%s", e.server.service.c_str(),
               server_text(e.server).c_str(), std::string(cause).c_str());
}

void ServerHealthAgreement::settle_all(std::string_view cause) {
  for (Entry& e : entries_) settle(e, cause);
}

// A server no longer checked takes calls, whatever anyone saw of it.
void ServerHealthAgreement::release(const Entry& e) {
  if (engine_.set_server_health(e.server.service, e.server.address, e.server.port, ServerHealth::up) ==
      sipvs::HealthChange::changed)
    LOG_NOTICE("health check: service %s server %s no longer checked: UP", e.server.service.c_str(),
               server_text(e.server).c_str());
}

}  // namespace sipvsd
