// Two directors' sync threads over the loopback, each with its own engine:
// the one that starts later gets the other's whole table before it says it
// is synced, then every change as it happens; forged datagrams install nothing.
// Each tells the other which servers its health checks see down: shared, a
// server one sees down is down on both; local, each keeps its own.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../config_builder.hpp"
#include "../loopback_sync.hpp"
#include "../packet_builder.hpp"
#include "daemon/health/server_health_agreement.hpp"
#include "daemon/sync/sync_service.hpp"
#include "daemon/sync/sync_socket.hpp"

using namespace sipvs;
using sipvsd::SyncService;

namespace {

EngineConfig director() {
  EngineConfig c;
  c.services.push_back(test::sip_service("rr", 300));
  return c;
}

const sync::Authenticator& key() {
  static const sync::Authenticator k = test::shared_key(9);
  return k;
}

// Waits, at most 10 s, for `done`.
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::vector<uint8_t> g_packet;

const Decision& in(Engine::Decider& w, const std::string& call_id, std::string_view method, Decision& d) {
  g_packet = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call_id, method));
  d = w.decide(g_packet, 0, monotonic_seconds());
  return d;
}

}  // namespace

TEST_CASE("a director that starts gets its peer's table, then each change, and only then is synced") {
  const uint16_t port_a = test::free_udp_port(), port_b = test::free_udp_port();
  REQUIRE(port_a != port_b);
  Engine a(director()), b(director());
  a.enable_change_log(4096);
  b.enable_change_log(4096);
  auto wa = a.make_decider();
  auto wb = b.make_decider();
  Decision d;
  std::vector<std::string> servers;
  for (int i = 0; i < 30; ++i) servers.push_back(in(wa, "early-" + std::to_string(i), "INVITE", d).server->address.to_string());

  SyncService sa(a, test::loopback_sync(1, port_a, port_b, 5), key());
  SyncService sb(b, test::loopback_sync(2, port_b, port_a, 5), key());
  REQUIRE(eventually([&] { return sb.status().synced && sa.status().synced; }));
  CHECK(b.template_count() == 30);
  for (int i = 0; i < 30; ++i) {
    in(wb, "early-" + std::to_string(i), "BYE", d);
    CHECK(d.template_hit);
    CHECK(d.server->address.to_string() == servers[i]);
  }
  const sipvsd::SyncStatus ab = sa.status();
  CHECK(ab.resyncs_served >= 1);
  REQUIRE(ab.peers.size() == 1);
  CHECK(ab.peers[0].node == 2);
  CHECK_FALSE(ab.peers[0].config_differs);

  // A call placed on one after the sync reaches the other as it happens.
  in(wa, "later", "INVITE", d);
  const std::string later = d.server->address.to_string();
  REQUIRE(eventually([&] { return b.template_count() == 31; }));
  in(wb, "later", "BYE", d);
  CHECK(d.server->address.to_string() == later);
  CHECK(sb.status().installed[static_cast<std::size_t>(Installed::stored)] >= 31);

  // Forged or foreign datagrams install nothing and are counted.
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_b);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<uint8_t> junk(200, 'x');
  ::sendto(fd, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  const sync::Authenticator other([] {
    sync::Key k;
    k.fill(1);
    return k;
  }());
  const auto forged = sync::encode_alive(sync::Header{sync::MessageType::alive, 5, 1, 1, 1}, {}, other);
  ::sendto(fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  REQUIRE(eventually([&] {
    const auto s = sb.status();
    return s.dropped[static_cast<std::size_t>(sync::DropReason::bad_magic)] == 1 &&
           s.dropped[static_cast<std::size_t>(sync::DropReason::bad_mac)] == 1;
  }));
  CHECK(b.template_count() == 31);
}

TEST_CASE("a director alone is synced once no peer answered for a few seconds") {
  Engine a(director());
  a.enable_change_log(1024);
  SyncService sa(a, test::loopback_sync(1, test::free_udp_port(), test::free_udp_port(), 5), key());
  CHECK_FALSE(sa.status().synced);
  REQUIRE(eventually([&] { return sa.status().synced; }));
  CHECK(sa.status().peers.at(0).node == 0);
}

TEST_CASE("a peer first heard in the middle of its sequence has lost nothing") {
  const uint16_t port_a = test::free_udp_port(), port_b = test::free_udp_port();
  REQUIRE(port_a != port_b);
  Engine a(director()), b(director());
  a.enable_change_log(64);
  b.enable_change_log(64);
  SyncService sa(a, test::loopback_sync(1, port_a, port_b, 5), key());
  // A says alive at once and every second, to a port nobody holds yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  SyncService sb(b, test::loopback_sync(2, port_b, port_a, 5), key());
  REQUIRE(eventually([&] { return sb.status().synced; }));
  const sipvsd::SyncStatus s = sb.status();
  REQUIRE(s.peers.size() == 1);
  CHECK(s.peers[0].highest_seq >= 3);
  CHECK(s.peers[0].lost == 0);
}

TEST_CASE("a datagram sealed for one director is refused by another, MAC and all") {
  const uint16_t port_b = test::free_udp_port(), port_c = test::free_udp_port();
  REQUIRE(port_b != port_c);
  Engine c(director());
  c.enable_change_log(64);
  SyncService sc(c, test::loopback_sync(3, port_c, port_b, 5), key());
  // Authentic, but for B's address: replayed to C, it must not pass as a
  // datagram of the cluster (with one key for all it would have).
  const auto to_b = sipvsd::endpoint_of(sipvsd::ListenAddress{*IpAddress::parse("127.0.0.1"), port_b});
  const auto for_b = key().for_channel(sipvsd::channel_of(to_b));
  const auto replayed = sync::encode_alive(sync::Header{sync::MessageType::alive, 5, 2, 1, 1}, {}, for_b);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_c);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, replayed.data(), replayed.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
  REQUIRE(eventually([&] { return sc.status().dropped[static_cast<std::size_t>(sync::DropReason::bad_mac)] == 1; }));
  CHECK(sc.status().unknown_peer == 0);
}

namespace {

// Both directors check 198.18.1.2 of "sip" (their probes told by hand).
struct CheckingDirector {
  CheckingDirector(sipvsd::ServerHealthMode mode, const sipvsd::SyncConfig& sync)
      : engine(director()), health(engine, mode) {
    engine.enable_change_log(64);
    health.checked({{"sip", server.server, 0, server, ServerHealth::down, false}});
    sipvsd::SyncConfig c = sync;
    c.server_health = mode;
    service.emplace(engine, c, key(), &health);
  }
  void probes_see(bool down) { health.local_view("sip", server.server, 0, down); }
  bool server_up() const { return engine.stats().services.at(0).servers.at(1).up; }
  sipvsd::SyncPeerStatus peer() const {  // none before the sync thread's first tick
    const sipvsd::SyncStatus s = service->status();
    return s.peers.empty() ? sipvsd::SyncPeerStatus{} : s.peers[0];
  }

  const sync::ServerIdentity server = sync::server_identity(director().services[0], director().services[0].servers[1]);
  Engine engine;
  sipvsd::ServerHealthAgreement health;
  std::optional<SyncService> service;
};

}  // namespace

TEST_CASE("shared health: a server one director sees down is down on the other at once, up with it or its silence") {
  const uint16_t port_a = test::free_udp_port(), port_b = test::free_udp_port();
  REQUIRE(port_a != port_b);
  CheckingDirector a(sipvsd::ServerHealthMode::shared, test::loopback_sync(1, port_a, port_b, 5));
  CheckingDirector b(sipvsd::ServerHealthMode::shared, test::loopback_sync(2, port_b, port_a, 5));
  REQUIRE(eventually([&] { return b.peer().state == sipvsd::PeerState::alive; }));
  CHECK(b.service->status().server_health_shared);
  CHECK(b.server_up());

  // Well within the second between alives: the change is told at once.
  const auto asked = std::chrono::steady_clock::now();
  a.probes_see(true);
  REQUIRE(eventually([&] { return !b.server_up(); }));
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::milliseconds(500));
  CHECK(b.peer().servers_down == std::vector{a.server});
  CHECK(b.health.local_down().empty());  // B's own view: nothing echoes back to A

  a.probes_see(false);
  REQUIRE(eventually([&] { return b.server_up(); }));
  CHECK(b.peer().servers_down.empty());

  // A director that goes silent counts no more (after 3 s).
  a.probes_see(true);
  REQUIRE(eventually([&] { return !b.server_up(); }));
  a.service.reset();
  REQUIRE(eventually([&] { return b.server_up(); }));
  CHECK(b.peer().state == sipvsd::PeerState::lost);
  CHECK(b.peer().servers_down.empty());
}

TEST_CASE("local health: a director keeps a server its peer sees down, knowing its peer's view") {
  const uint16_t port_a = test::free_udp_port(), port_b = test::free_udp_port();
  REQUIRE(port_a != port_b);
  CheckingDirector a(sipvsd::ServerHealthMode::shared, test::loopback_sync(1, port_a, port_b, 5));
  CheckingDirector b(sipvsd::ServerHealthMode::local, test::loopback_sync(2, port_b, port_a, 5));
  REQUIRE(eventually([&] { return b.peer().state == sipvsd::PeerState::alive; }));
  CHECK_FALSE(b.service->status().server_health_shared);
  a.probes_see(true);
  REQUIRE(eventually([&] { return b.peer().servers_down == std::vector{a.server}; }));
  CHECK(b.server_up());
  CHECK_FALSE(a.server_up());
}
