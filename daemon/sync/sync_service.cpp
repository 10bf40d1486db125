#include "daemon/sync/sync_service.hpp"

#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "daemon/config/api_config.hpp"
#include "daemon/config/service_json.hpp"
#include "daemon/log.hpp"
#include "daemon/sync/sync_records.hpp"
#include "daemon/sync/sync_socket.hpp"
#include "sync/replay_window.hpp"

namespace sipvsd {

namespace {

using namespace sipvs::sync;
using Clock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(5);
constexpr auto kAliveEvery = std::chrono::seconds(1);
// No word from a peer for this long: it is down (it does not hold back
// "synced"); no bulk records for this long after asking: ask again.
constexpr auto kSilent = std::chrono::seconds(3);
// On a multicast group peers are known only once heard: each says alive
// every second (and at once to one it hears for the first time).
constexpr auto kDiscovery = std::chrono::milliseconds(1500);
constexpr std::size_t kChangesPerTick = 8192;
// A bulk resync's pace: about this many templates per tick (~50 datagrams,
// 100 000 templates/s), so that serving one never starves the data path or
// overflows the peer's socket; empty buckets (a table that emptied) go by
// fast, in steps short enough not to hold a shard's lock for long.
constexpr std::size_t kBulkRecordsPerTick = 512;
constexpr std::size_t kBulkBucketsPerTick = 65536;
constexpr std::size_t kBulkStep = 256;
constexpr std::size_t kReceivePerTick = 256;
// Directors found on a multicast group, at most.
constexpr std::size_t kMaxGroupPeers = 64;

uint64_t realtime_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// What directors compare to see that they run the same services: the
// services by name, each server by address and port, marks left out (each
// director may route by its own).
std::array<uint8_t, 32> config_digest(const sipvs::EngineConfig& config) {
  nlohmann::json services = nlohmann::json::array();
  for (const sipvs::ServiceConfig& s : config.services) {
    nlohmann::json j = service_to_json(s);
    for (auto& server : j["servers"]) server.erase("mark");
    std::sort(j["servers"].begin(), j["servers"].end(),
              [](const nlohmann::json& a, const nlohmann::json& b) { return a.dump() < b.dump(); });
    services.push_back(std::move(j));
  }
  std::sort(services.begin(), services.end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return a["name"] < b["name"]; });
  const std::string text = services.dump();
  std::array<uint8_t, 32> digest;
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                     nullptr, 0);
  return digest;
}

}  // namespace

struct SyncService::Impl {
  // Where this director's datagrams go, with their own sequence numbers: a
  // configured peer, or the multicast group (one stream to all on it).
  struct Stream {
    Endpoint to;
    Authenticator auth;  // the key bound to `to` (Authenticator::for_channel)
    uint64_t seq_out = 0;
  };
  // A director we hear from: configured (known by its address), or found on
  // the multicast group (known by its node id, so that a datagram replayed
  // from another address meets the same replay window).
  struct Peer {
    std::string text;
    Endpoint at;
    bool via_group = false;    // heard on the group; what is for it goes there
    Stream* stream = nullptr;  // into `streams`, which never grows after the start
    uint64_t node = 0;
    ReplayWindow window;
    std::optional<Clock::time_point> last_seen;
    uint64_t lost = 0;
    bool table_received = false;
    bool asking = false;  // a resync request is out
    bool clean = true;    // nothing of it was lost since the request
    Clock::time_point progress{};  // asking: the request, or the last bulk records since
    bool synced = false;
    uint64_t templates = 0;
    bool config_differs = false;
    // The servers its health checks see down, from its last alive; `view`
    // while it counts (the peer has not gone silent since).
    std::vector<ServerIdentity> down;
    bool down_incomplete = false;
    bool view = false;
    // Its bulk resync from us, while one is being served.
    std::optional<sipvs::Engine::WalkCursor> serving;
    uint64_t served = 0;
  };

  Impl(sipvs::Engine& e, const SyncConfig& c, ServerHealthAgreement* h) : engine(e), config(c), health(h) {}
  ~Impl();

  sipvs::Engine& engine;
  const SyncConfig config;
  ServerHealthAgreement* const health;  // none: no health checks to share (tests, bench)
  uint64_t announced_health = 0;        // health->local_changes() when the last alive went out
  // The keys of what is sent to this director's listen address, and to the
  // group (the shared key itself signs nothing: Authenticator::for_channel).
  std::optional<Authenticator> listen_auth, group_auth;
  int fd = -1;        // bound to listen: sends everything, takes what peers send to it
  int group_fd = -1;  // bound to the multicast group: takes what is sent there
  const uint64_t epoch = realtime_ns();
  std::vector<Stream> streams;
  std::vector<Peer> peers;
  Clock::time_point started = Clock::now();
  Clock::time_point next_alive = started;
  std::array<uint8_t, 32> digest{};
  SyncStatus counts;  // the thread's; copied to `published` after each tick
  std::atomic<bool> stopping{false};
  mutable std::mutex status_mutex;
  SyncStatus published;
  std::thread thread;

  void run();
  void tick();
  void serve_resyncs(sipvs::Seconds seconds);
  void ask_for_tables(Clock::time_point now);
  void send_alive(Clock::time_point now);
  void take_view(Peer& p, const Alive& alive);
  void forget_view(Peer& p);
  void forget_silent(Clock::time_point now);
  void receive(int from_fd, bool via_group);
  void handle(std::span<const uint8_t> datagram, const sockaddr_storage& from, bool via_group);
  Peer* find_peer(const sockaddr_storage& from, bool via_group, uint64_t node);
  void take(Peer& p, const Message& m);
  void send_to(Stream& s, std::span<const uint8_t> datagram);
  void send_records(Stream& s, MessageType type, const std::vector<sipvs::TemplateChangeInfo>& changes);
  Header header_for(Stream& s, MessageType type) {
    return Header{type, config.sync_id, config.node_id, epoch, ++s.seq_out};
  }
  bool synced_now(Clock::time_point now) const;
  void publish();
};

SyncService::SyncService(sipvs::Engine& engine, const SyncConfig& config, const Authenticator& auth,
                         ServerHealthAgreement* health)
    : impl_(std::make_unique<Impl>(engine, config, health)) {
  Impl& i = *impl_;
  Endpoint self;
  i.fd = open_sync_socket(config, self);
  i.listen_auth = auth.for_channel(channel_of(self));
  i.streams.reserve(config.peers.size() + 1);  // never more: peers point into it
  for (const std::string& text : config.peers) {
    const auto at = parse_listen_address(text);
    if (!at) continue;  // check_sync refused it already
    const Endpoint to = endpoint_of(*at);
    i.streams.push_back({to, auth.for_channel(channel_of(to))});
    Impl::Peer& p = i.peers.emplace_back();
    p.text = text;
    p.at = i.streams.back().to;
    p.stream = &i.streams.back();
  }
  if (config.multicast.enabled()) {
    Endpoint group;
    i.group_fd = open_group_socket(config, group);
    i.group_auth = auth.for_channel(channel_of(group));
    i.streams.push_back({group, *i.group_auth});
  }
  i.counts.node = config.node_id;
  i.counts.server_health_shared = config.server_health == ServerHealthMode::shared;
  i.thread = std::thread([&i] { i.run(); });
}

SyncService::Impl::~Impl() {
  if (fd >= 0) ::close(fd);
  if (group_fd >= 0) ::close(group_fd);
}

SyncService::~SyncService() {
  impl_->stopping.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
}

SyncStatus SyncService::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->published;
}

void SyncService::Impl::run() {
  pthread_setname_np(pthread_self(), "sipvsd-sync");
  LOG_NOTICE("sync: node %llu on %s, %zu peers%s%s", static_cast<unsigned long long>(config.node_id),
             config.listen.c_str(), peers.size(), config.multicast.enabled() ? ", multicast group " : "",
             config.multicast.group.c_str());
  while (!stopping.load()) {
    std::array<pollfd, 2> ready{{{fd, POLLIN, 0}, {group_fd, POLLIN, 0}}};  // poll skips a negative fd
    ::poll(ready.data(), ready.size(), static_cast<int>(kTick.count()));
    receive(fd, false);
    if (group_fd >= 0) receive(group_fd, true);
    tick();
    publish();
  }
}

void SyncService::Impl::receive(int from_fd, bool via_group) {
  std::array<uint8_t, kMaxReceived + 1> buf;
  for (std::size_t i = 0; i < kReceivePerTick; ++i) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(from_fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN: nothing more
    handle({buf.data(), static_cast<std::size_t>(n)}, from, via_group);
  }
}

// A configured peer, or one on the group. Only key holders get this far (the
// MAC is checked first), so a director heard on the group is one more peer.
SyncService::Impl::Peer* SyncService::Impl::find_peer(const sockaddr_storage& from, bool via_group, uint64_t node) {
  const auto it = std::ranges::find_if(peers, [&](const Peer& p) {
    return via_group ? p.via_group && p.node == node : !p.via_group && same_endpoint(from, p.at);
  });
  if (it != peers.end()) return &*it;
  if (!via_group || std::ranges::count_if(peers, &Peer::via_group) >= static_cast<long>(kMaxGroupPeers)) return nullptr;
  Peer& p = peers.emplace_back();
  p.at = endpoint_of(from);
  p.text = to_string(p.at);
  p.via_group = true;
  p.stream = &streams.back();  // the group's
  LOG_NOTICE("sync: peer %s found on the multicast group", p.text.c_str());
  return &p;
}

void SyncService::Impl::handle(std::span<const uint8_t> datagram, const sockaddr_storage& from, bool via_group) {
  Message m;
  DropReason reason{};
  if (!decode(datagram, via_group ? *group_auth : *listen_auth, config.sync_id, m, reason)) {
    ++counts.dropped[static_cast<std::size_t>(reason)];
    return;
  }
  if (m.header.sender == config.node_id) {
    ++counts.dropped[static_cast<std::size_t>(DropReason::own)];
    return;
  }
  Peer* const peer = find_peer(from, via_group, m.header.sender);
  if (!peer) {
    ++counts.unknown_peer;
    return;
  }
  Peer& p = *peer;
  switch (p.window.check(m.header.epoch, m.header.seq)) {
    case ReplayWindow::Verdict::replayed: ++counts.dropped[static_cast<std::size_t>(DropReason::replayed)]; return;
    case ReplayWindow::Verdict::stale_epoch: ++counts.dropped[static_cast<std::size_t>(DropReason::stale_epoch)]; return;
    case ReplayWindow::Verdict::fresh: break;
  }
  const bool first_contact = p.node == 0;
  const bool restarted = !first_contact && p.window.epoch() != m.header.epoch;
  if (p.node != m.header.sender) forget_view(p);  // another director at that address: its view is not this one's
  const uint64_t skipped = p.window.accept(m.header.epoch, m.header.seq);
  ++counts.datagrams_received;
  counts.bytes_received += datagram.size();
  p.node = m.header.sender;
  p.last_seen = Clock::now();
  if (first_contact || restarted) next_alive = *p.last_seen;  // tell it at once who we are
  if (restarted) {
    // It starts over, from its state file if anything, and tells each change
    // as it happens: nothing to ask it for (its copy of ours would only echo
    // back), and a request we had out died with it.
    LOG_NOTICE("sync: peer %s restarted", p.text.c_str());
    p.asking = false;
    p.table_received = true;
  } else if (first_contact) {
    p.table_received = false;  // what it sent before we listened is no loss, but we lack its table
  } else if (skipped > 0) {
    p.lost += skipped;
    p.table_received = false;  // its table as we hold it lacks something: ask for all of it
    if (p.asking) p.clean = false;
  }
  take(p, m);
}

// What an authentic, fresh datagram from peer `p` says.
void SyncService::Impl::take(Peer& p, const Message& m) {
  const sipvs::Seconds now = sipvs::monotonic_seconds();
  switch (m.header.type) {
    case MessageType::bulk_records:
      if (p.asking) p.progress = Clock::now();
      [[fallthrough]];
    case MessageType::records:
      for (const SyncRecord& r : m.records) {
        ++counts.records_received;
        ++counts.installed[static_cast<std::size_t>(engine.install_change(to_change(r), now))];
      }
      break;
    case MessageType::alive:
      p.synced = m.alive.synced;
      p.templates = m.alive.templates;
      take_view(p, m.alive);
      if (p.config_differs != (m.alive.config_digest != digest)) {
        p.config_differs = !p.config_differs;
        if (p.config_differs)
          LOG_WARN("sync: peer %s runs other services than this director", p.text.c_str());
        else
          LOG_NOTICE("sync: peer %s runs the same services as this director again", p.text.c_str());
      }
      break;
    case MessageType::resync_request:
      if (m.node != config.node_id) break;
      p.serving = sipvs::Engine::WalkCursor{};  // a request while serving one starts over
      p.served = 0;
      break;
    case MessageType::resync_end:
      if (m.node != config.node_id || !p.asking) break;
      p.asking = false;
      p.table_received = p.clean;  // else asked again at the next tick
      if (p.table_received)
        LOG_NOTICE("sync: %llu templates received from peer %s", static_cast<unsigned long long>(m.sent),
                   p.text.c_str());
      break;
  }
}

void SyncService::Impl::send_to(Stream& s, std::span<const uint8_t> datagram) {
  if (::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&s.to.addr), s.to.len) < 0) {
    ++counts.send_errors;
    return;
  }
  ++counts.datagrams_sent;
  counts.bytes_sent += datagram.size();
}

void SyncService::Impl::send_records(Stream& s, MessageType type,
                                     const std::vector<sipvs::TemplateChangeInfo>& changes) {
  // A writer takes a sequence number only with a record in hand: every
  // number is sent, or the peer would see a gap.
  std::optional<DatagramWriter> w;
  for (const sipvs::TemplateChangeInfo& c : changes) {
    const SyncRecord r = to_record(c);
    if (encoded_size(r) == 0) continue;  // the engine's records always travel; a guard
    if (w && !w->add(r)) {
      send_to(s, w->seal(s.auth));
      w.reset();
    }
    if (!w) {
      w.emplace(header_for(s, type));
      w->add(r);  // one record always fits an empty datagram
    }
    ++counts.records_sent;
  }
  if (w) send_to(s, w->seal(s.auth));
}

void SyncService::Impl::tick() {
  const Clock::time_point now = Clock::now();
  const sipvs::Seconds seconds = sipvs::monotonic_seconds();
  std::vector<sipvs::TemplateChangeInfo> changes;
  engine.drain_changes(changes, kChangesPerTick, seconds);
  if (!changes.empty())
    for (Stream& s : streams) send_records(s, MessageType::records, changes);
  serve_resyncs(seconds);
  ask_for_tables(now);
  if (!counts.synced && synced_now(now)) {
    counts.synced = true;
    LOG_NOTICE("sync: synced, %zu templates", engine.template_count());
  }
  forget_silent(now);
  // A change of this director's view of its servers goes out at once.
  if (health && health->local_changes() != announced_health) next_alive = now;
  if (now >= next_alive) send_alive(now);
}

void SyncService::Impl::send_alive(Clock::time_point now) {
  next_alive = now + kAliveEvery;
  digest = config_digest(engine.config());
  Alive alive{digest, counts.synced, engine.template_count(), {}, false};
  if (health) {
    announced_health = health->local_changes();  // read first: a change after it goes out at the next tick
    alive.down = health->local_down();
  }
  for (Stream& s : streams) send_to(s, encode_alive(header_for(s, MessageType::alive), alive, s.auth));
}

// What a peer's alive says its health checks see down.
void SyncService::Impl::take_view(Peer& p, const Alive& alive) {
  p.down = alive.down;
  p.down_incomplete = alive.down_incomplete;
  p.view = true;
  if (health) health->peer_view(p.node, p.down);
}

void SyncService::Impl::forget_view(Peer& p) {
  if (!p.view) return;
  p.view = false;
  p.down.clear();
  p.down_incomplete = false;
  if (health) health->forget_peer(p.node);
}

// A peer silent for kSilent is down: what it saw of the servers counts no more.
void SyncService::Impl::forget_silent(Clock::time_point now) {
  for (Peer& p : peers) {
    if (!p.view || now - *p.last_seen <= kSilent) continue;
    LOG_NOTICE("sync: peer %s (node %llu) silent for %lld s", p.text.c_str(), static_cast<unsigned long long>(p.node),
               static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kSilent).count()));
    forget_view(p);
  }
}

// A paced step of each bulk resync asked of us, to the peer's stream (on a
// group, the others take it too: what they hold already is kept).
void SyncService::Impl::serve_resyncs(sipvs::Seconds seconds) {
  std::vector<sipvs::TemplateChangeInfo> table;
  for (Peer& p : peers) {
    if (!p.serving) continue;
    table.clear();
    for (std::size_t walked = 0; walked < kBulkBucketsPerTick && table.size() < kBulkRecordsPerTick &&
                                 !p.serving->done();
         walked += kBulkStep)
      engine.walk_templates(*p.serving, kBulkStep, table, seconds);
    send_records(*p.stream, MessageType::bulk_records, table);
    p.served += table.size();
    if (!p.serving->done()) continue;
    Stream& s = *p.stream;
    send_to(s, encode_resync_end(header_for(s, MessageType::resync_end), p.node, p.served, s.auth));
    ++counts.resyncs_served;
    LOG_NOTICE("sync: sent our %llu templates to peer %s", static_cast<unsigned long long>(p.served), p.text.c_str());
    p.serving.reset();
  }
}

// Each peer whose table we lack (we started, or lost some of its datagrams)
// is asked for all of it; again when no part of it came for a while (the
// request or the end was lost, or it stopped serving).
void SyncService::Impl::ask_for_tables(Clock::time_point now) {
  for (Peer& p : peers) {
    const bool stalled = p.asking && now - p.progress > kSilent;
    if (p.node == 0 || p.table_received || (p.asking && !stalled)) continue;
    Stream& s = *p.stream;
    send_to(s, encode_resync_request(header_for(s, MessageType::resync_request), p.node, s.auth));
    p.asking = true;
    p.clean = true;
    p.progress = now;
    ++counts.resyncs_requested;
  }
}

// Every peer that speaks has sent its table; the silent ones are down.
bool SyncService::Impl::synced_now(Clock::time_point now) const {
  if (config.multicast.enabled() && now - started < kDiscovery) return false;
  if (now - started < kSilent) return std::ranges::all_of(peers, [](const Peer& p) { return p.table_received; });
  return std::ranges::all_of(peers, [&](const Peer& p) {
    return p.table_received || !p.last_seen || now - *p.last_seen > kSilent;
  });
}

void SyncService::Impl::publish() {
  const Clock::time_point now = Clock::now();
  counts.peers.clear();
  for (const Peer& p : peers) {
    SyncPeerStatus s;
    s.address = p.text;
    s.node = p.node;
    s.last_seen_seconds = p.last_seen ? std::chrono::duration<double>(now - *p.last_seen).count() : -1;
    s.epoch = p.window.epoch();
    s.highest_seq = p.window.highest();
    s.lost = p.lost;
    s.table_received = p.table_received;
    s.synced = p.synced;
    s.templates = p.templates;
    s.config_differs = p.config_differs;
    s.state = !p.last_seen ? PeerState::unheard : now - *p.last_seen <= kSilent ? PeerState::alive : PeerState::lost;
    s.servers_down = p.down;
    s.servers_down_incomplete = p.down_incomplete;
    counts.peers.push_back(std::move(s));
  }
  std::lock_guard lock(status_mutex);
  published = counts;
}

}  // namespace sipvsd
