#include "daemon/sync/sync_service.hpp"

#include <netinet/in.h>
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
#include "sync/replay_window.hpp"

namespace sipvsd {

namespace {

using namespace sipvs::sync;
using Clock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(5);
constexpr auto kAliveEvery = std::chrono::seconds(1);
// No word from a peer for this long: it is down (it does not hold back
// "synced"), or its bulk resync stalled (asked again).
constexpr auto kSilent = std::chrono::seconds(3);
constexpr std::size_t kChangesPerTick = 8192;
// A bulk resync's pace: this many buckets of the table per tick (a few
// thousand templates), so that serving one never starves the data path.
constexpr std::size_t kBulkBucketsPerTick = 2048;
constexpr std::size_t kReceivePerTick = 256;

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Endpoint endpoint_of(const ListenAddress& a) {
  Endpoint e;
  if (a.address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&e.addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(a.port);
    std::memcpy(&in->sin_addr, a.address.bytes.data(), 4);
    e.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    std::memcpy(&in6->sin6_addr, a.address.bytes.data(), 16);
    e.len = sizeof(sockaddr_in6);
  }
  return e;
}

bool same_endpoint(const sockaddr_storage& a, const Endpoint& b) {
  if (a.ss_family != b.addr.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.addr);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b.addr);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

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
  struct Peer {
    std::string text;
    Endpoint at;
    uint64_t seq_out = 0;  // this director's sequence numbers towards it
    // What it sends us.
    uint64_t node = 0;
    ReplayWindow window;
    std::optional<Clock::time_point> last_seen;
    uint64_t lost = 0;
    bool table_received = false;
    bool asking = false;  // a resync request is out
    bool clean = true;    // nothing of it was lost since the request
    bool synced = false;
    uint64_t templates = 0;
    bool config_differs = false;
    // Its bulk resync from us, while one is being served.
    std::optional<sipvs::Engine::WalkCursor> serving;
    uint64_t served = 0;
  };

  Impl(sipvs::Engine& e, const SyncConfig& c, const Authenticator& a) : engine(e), config(c), auth(a) {}

  sipvs::Engine& engine;
  const SyncConfig config;
  const Authenticator auth;
  int fd = -1;
  const uint64_t epoch = realtime_ns();
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
  void receive();
  void handle(std::span<const uint8_t> datagram, const sockaddr_storage& from);
  void take(Peer& p, const Message& m);
  void send_to(Peer& p, std::span<const uint8_t> datagram);
  void send_records(Peer& p, const std::vector<sipvs::TemplateChangeInfo>& changes);
  Header header_for(Peer& p, MessageType type) {
    return Header{type, config.sync_id, config.node_id, epoch, ++p.seq_out};
  }
  bool synced_now(Clock::time_point now) const;
  void publish();
};

SyncService::SyncService(sipvs::Engine& engine, const SyncConfig& config, const Authenticator& auth)
    : impl_(std::make_unique<Impl>(engine, config, auth)) {
  const auto listen = parse_listen_address(config.listen);
  if (!listen) throw std::runtime_error("sync.listen " + config.listen + ": not an ip:port");
  const Endpoint self = endpoint_of(*listen);
  impl_->fd = ::socket(self.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl_->fd < 0) throw std::runtime_error(std::string("sync: socket: ") + std::strerror(errno));
  if (::bind(impl_->fd, reinterpret_cast<const sockaddr*>(&self.addr), self.len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(impl_->fd);
    throw std::runtime_error("sync.listen " + config.listen + ": " + why);
  }
  for (const std::string& text : config.peers) {
    const auto at = parse_listen_address(text);
    if (!at) continue;  // check_sync refused it already
    impl_->peers.push_back({});
    impl_->peers.back().text = text;
    impl_->peers.back().at = endpoint_of(*at);
  }
  impl_->counts.node = config.node_id;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

SyncService::~SyncService() {
  impl_->stopping.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
  ::close(impl_->fd);
}

SyncStatus SyncService::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->published;
}

void SyncService::Impl::run() {
  pthread_setname_np(pthread_self(), "sipvsd-sync");
  LOG_NOTICE("sync: node %llu on %s, %zu peers", static_cast<unsigned long long>(config.node_id),
             config.listen.c_str(), peers.size());
  while (!stopping.load()) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(kTick.count()));
    receive();
    tick();
    publish();
  }
}

void SyncService::Impl::receive() {
  std::array<uint8_t, kMaxReceived + 1> buf;
  for (std::size_t i = 0; i < kReceivePerTick; ++i) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN: nothing more
    handle({buf.data(), static_cast<std::size_t>(n)}, from);
  }
}

void SyncService::Impl::handle(std::span<const uint8_t> datagram, const sockaddr_storage& from) {
  Message m;
  DropReason reason{};
  if (!decode(datagram, auth, config.sync_id, m, reason)) {
    ++counts.dropped[static_cast<std::size_t>(reason)];
    return;
  }
  if (m.header.sender == config.node_id) {
    ++counts.dropped[static_cast<std::size_t>(DropReason::own)];
    return;
  }
  const auto peer = std::ranges::find_if(peers, [&](const Peer& p) { return same_endpoint(from, p.at); });
  if (peer == peers.end()) {
    ++counts.unknown_peer;
    return;
  }
  Peer& p = *peer;
  switch (p.window.check(m.header.epoch, m.header.seq)) {
    case ReplayWindow::Verdict::replayed: ++counts.dropped[static_cast<std::size_t>(DropReason::replayed)]; return;
    case ReplayWindow::Verdict::stale_epoch: ++counts.dropped[static_cast<std::size_t>(DropReason::stale_epoch)]; return;
    case ReplayWindow::Verdict::fresh: break;
  }
  const bool restarted = p.window.epoch() != m.header.epoch;
  const uint64_t skipped = p.window.accept(m.header.epoch, m.header.seq);
  ++counts.datagrams_received;
  if (restarted && p.node != 0) LOG_NOTICE("sync: peer %s restarted", p.text.c_str());
  p.node = m.header.sender;
  p.last_seen = Clock::now();
  p.lost += skipped;
  if (restarted || skipped > 0) {
    // Its table as we hold it may lack something: ask for all of it again.
    p.table_received = false;
    if (p.asking) p.clean = false;
  }
  take(p, m);
}

// What an authentic, fresh datagram from peer `p` says.
void SyncService::Impl::take(Peer& p, const Message& m) {
  const sipvs::Seconds now = sipvs::monotonic_seconds();
  switch (m.header.type) {
    case MessageType::records:
      for (const SyncRecord& r : m.records) {
        ++counts.records_received;
        ++counts.installed[static_cast<std::size_t>(engine.install_change(to_change(r), now))];
      }
      break;
    case MessageType::alive:
      p.synced = m.alive.synced;
      p.templates = m.alive.templates;
      if (p.config_differs != (m.alive.config_digest != digest)) {
        p.config_differs = !p.config_differs;
        if (p.config_differs) LOG_WARN("sync: peer %s runs other services than this director", p.text.c_str());
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

void SyncService::Impl::send_to(Peer& p, std::span<const uint8_t> datagram) {
  if (::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&p.at.addr), p.at.len) < 0)
    ++counts.send_errors;
  else
    ++counts.datagrams_sent;
}

// Each peer gets its own datagrams: its own sequence numbers, so that a
// bulk resync one of them asked for is no gap to the others.
void SyncService::Impl::send_records(Peer& p, const std::vector<sipvs::TemplateChangeInfo>& changes) {
  // A writer takes a sequence number only with a record in hand: every
  // number is sent, or the peer would see a gap.
  std::optional<DatagramWriter> w;
  for (const sipvs::TemplateChangeInfo& c : changes) {
    const SyncRecord r = to_record(c);
    if (encoded_size(r) == 0) continue;  // the engine's records always travel; a guard
    if (w && !w->add(r)) {
      send_to(p, w->seal(auth));
      w.reset();
    }
    if (!w) {
      w.emplace(header_for(p, MessageType::records));
      w->add(r);  // one record always fits an empty datagram
    }
    ++counts.records_sent;
  }
  if (w) send_to(p, w->seal(auth));
}

void SyncService::Impl::tick() {
  const Clock::time_point now = Clock::now();
  const sipvs::Seconds seconds = sipvs::monotonic_seconds();
  std::vector<sipvs::TemplateChangeInfo> changes;
  engine.drain_changes(changes, kChangesPerTick, seconds);
  if (!changes.empty())
    for (Peer& p : peers) send_records(p, changes);

  for (Peer& p : peers) {
    if (!p.serving) continue;
    changes.clear();
    engine.walk_templates(*p.serving, kBulkBucketsPerTick, changes, seconds);
    send_records(p, changes);
    p.served += changes.size();
    if (p.serving->done()) {
      send_to(p, encode_resync_end(header_for(p, MessageType::resync_end), p.node, p.served, auth));
      ++counts.resyncs_served;
      LOG_NOTICE("sync: sent our %llu templates to peer %s", static_cast<unsigned long long>(p.served),
                 p.text.c_str());
      p.serving.reset();
    }
  }

  for (Peer& p : peers) {
    const bool stalled = p.asking && p.last_seen && now - *p.last_seen > kSilent;
    if (p.node == 0 || p.table_received || (p.asking && !stalled)) continue;
    send_to(p, encode_resync_request(header_for(p, MessageType::resync_request), p.node, auth));
    p.asking = true;
    p.clean = true;
    ++counts.resyncs_requested;
  }

  if (now >= next_alive) {
    next_alive = now + kAliveEvery;
    digest = config_digest(engine.config());
    if (!counts.synced && synced_now(now)) {
      counts.synced = true;
      LOG_NOTICE("sync: synced, %zu templates", engine.template_count());
    }
    const Alive alive{digest, counts.synced, engine.template_count()};
    for (Peer& p : peers) send_to(p, encode_alive(header_for(p, MessageType::alive), alive, auth));
  }
}

// Every peer that speaks has sent its table; the silent ones are down.
bool SyncService::Impl::synced_now(Clock::time_point now) const {
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
    counts.peers.push_back(std::move(s));
  }
  std::lock_guard lock(status_mutex);
  published = counts;
}

}  // namespace sipvsd
