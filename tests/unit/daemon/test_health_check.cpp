// SIP OPTIONS health checks: the "health_check" configuration keys, and the
// checker against a UDP responder on the loopback that answers, then stops.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "config_errors.hpp"
#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/service_json.hpp"
#include "engine/engine.hpp"
#include "daemon/health/health_check.hpp"

using nlohmann::json;
using sipvsd::ConfigFieldError;
using sipvsd::HealthCheckConfig;

using test::error_field;

namespace {

json service_with(const json& check, const json& server_check = nullptr) {
  json server{{"address", "127.0.0.1"}, {"port", 5060}, {"mark", 1}};
  if (!server_check.is_null()) server["health_check"] = server_check;
  json s{{"name", "s"}, {"vip", "198.18.2.100"}, {"port", 5060}, {"scheduler", "rr"},
         {"servers", json::array({server, json{{"address", "127.0.0.2"}, {"mark", 2}}})}};
  if (!check.is_null()) s["health_check"] = check;
  return json{{"services", json::array({s})}};
}

}  // namespace

TEST_CASE("health_check: defaults, per-server override, round trip") {
  const auto c = sipvsd::parse_config(service_with(json::object(), json{{"interval_ms", 200}, {"timeout_ms", 100}}));
  REQUIRE(c.health_checks.count("s") == 1);
  const auto& hc = c.health_checks.at("s");
  CHECK(hc.enabled);
  CHECK(hc.service == HealthCheckConfig{});
  REQUIRE(hc.servers.size() == 1);
  CHECK(hc.servers[0].address.to_string() == "127.0.0.1");
  CHECK(hc.servers[0].check.interval_ms == 200);
  CHECK(hc.servers[0].check.failures == 3);  // the rest from the service's check
  CHECK(sipvsd::parse_config(sipvsd::to_json(c)) == c);

  const auto full = sipvsd::parse_config(service_with(
      json{{"interval_ms", 2000}, {"timeout_ms", 700}, {"failures", 5}, {"successes", 1}, {"codes", {200, 404}},
           {"local_address", "127.0.0.1"}, {"local_port", 5099}, {"on_down", "expire"}}));
  const auto& f = full.health_checks.at("s").service;
  CHECK(f.codes == std::vector<uint16_t>{200, 404});
  CHECK(f.on_down == HealthCheckConfig::OnDown::expire);
  CHECK(f.local_port == 5099);
  CHECK(sipvsd::parse_config(sipvsd::to_json(full)) == full);
  CHECK(sipvsd::to_json(full)["services"][0]["health_check"]["on_down"] == "expire");

  CHECK(sipvsd::parse_config(service_with(nullptr)).health_checks.empty());
  CHECK_FALSE(sipvsd::parse_config(service_with(nullptr)) == full);
}

TEST_CASE("health_check: bad values name their field") {
  CHECK(error_field(service_with(json{{"interval_ms", 0}})) == "services[0].health_check.interval_ms");
  CHECK(error_field(service_with(json{{"interval_ms", 100}, {"timeout_ms", 200}})) ==
        "services[0].health_check.timeout_ms");
  CHECK(error_field(service_with(json{{"codes", {100}}})) == "services[0].health_check.codes[0]");
  CHECK(error_field(service_with(json{{"codes", 200}})) == "services[0].health_check.codes");
  CHECK(error_field(service_with(json{{"on_down", "drop"}})) == "services[0].health_check.on_down");
  CHECK(error_field(service_with(json{{"local_address", "nowhere"}})) == "services[0].health_check.local_address");
  CHECK(error_field(service_with(json{{"intervall_ms", 1}})) == "services[0].health_check.intervall_ms");
  CHECK(error_field(service_with(nullptr, json{{"failures", "3"}})) ==
        "services[0].servers[0].health_check.failures");
  // The REST API's service resources do not take it.
  CHECK_THROWS_AS(sipvsd::service_from_json(service_with(json::object())["services"][0], "s"), ConfigFieldError);
}

namespace {

// A SIP UAS on 127.0.0.1 that answers OPTIONS with `code` while `answer` is
// set, after sending a stray response first (which the checker must ignore).
// With `terse`, the answer is written as RFC 3261 allows but few servers do:
// compact and lower-case header names, the Via folded before its branch.
struct Responder {
  int fd = -1;
  uint16_t port = 0;
  std::atomic<bool> answer{true}, stop{false}, terse{false};
  std::atomic<int> code{200};
  std::atomic<int> seen{0};
  std::mutex ids_mutex;
  std::vector<std::string> ids;  // "Call-ID Via" of each probe seen
  std::thread thread;

  explicit Responder(bool v6 = false) {
    fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    thread = std::thread([this] { run(); });
  }
  ~Responder() {
    stop = true;
    thread.join();
    ::close(fd);
  }
  static std::string header(const std::string& msg, const std::string& name) {
    const auto p = msg.find("\r\n" + name + ": ");
    if (p == std::string::npos) return "";
    const auto start = p + 4 + name.size();
    return msg.substr(start, msg.find("\r\n", start) - start);
  }
  void run() {
    char buf[4096];
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) continue;
      const std::string msg(buf, static_cast<std::size_t>(n));
      if (msg.rfind("OPTIONS ", 0) != 0) continue;
      {
        std::lock_guard lock(ids_mutex);
        ids.push_back(header(msg, "Call-ID") + " " + header(msg, "Via"));
      }
      ++seen;
      if (!answer) continue;
      const std::string via = header(msg, "Via"), cid = header(msg, "Call-ID"), cseq = header(msg, "CSeq");
      auto send = [&](const std::string& c, const std::string& v, const std::string& id, const std::string& cs) {
        const std::string r = "SIP/2.0 " + c + " Whatever\r\nVia: " + v + "\r\nCall-ID: " + id + "\r\nCSeq: " + cs +
                              "\r\nContent-Length: 0\r\n\r\n";
        ::sendto(fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      };
      send("200", "SIP/2.0/UDP x;branch=z9hG4bK-other", cid, cseq);  // stray: wrong branch
      send("100", via, cid, cseq);                                    // provisional: not final
      if (terse) {
        const std::size_t semi = via.find(';');
        const std::string r = "SIP/2.0 " + std::to_string(code.load()) + " OK\r\nv: " + via.substr(0, semi) +
                              "\r\n  " + via.substr(semi) + "\r\ni:" + cid + "\r\ncseq: " + cseq + "\r\nl: 0\r\n\r\n";
        ::sendto(fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      } else {
        send(std::to_string(code.load()), via, cid, cseq);
      }
    }
  }
};

bool server_up(sipvs::Engine& e, const std::string& address = "127.0.0.1") {
  for (const auto& s : e.stats().services)
    for (const auto& r : s.servers)
      if (r.address.to_string() == address) return r.up;
  return false;
}

// One service whose one server is `uas`, checked with `check`.
sipvsd::DaemonConfig checked_responder(const Responder& uas, const json& check) {
  json j = service_with(check);
  j["services"][0]["servers"][0]["port"] = uas.port;
  j["services"][0]["servers"].erase(1);
  return sipvsd::parse_config(j);
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

}  // namespace

TEST_CASE("HealthChecker: down after `failures` lost probes, up after `successes`, codes, release") {
  Responder uas;
  sipvsd::DaemonConfig c =
      checked_responder(uas, {{"interval_ms", 100}, {"timeout_ms", 50}, {"failures", 3}, {"successes", 2}});
  sipvs::Engine engine(c.engine);
  sipvsd::ServerHealthAgreement agreement(engine, sipvsd::ServerHealthMode::local);
  sipvsd::HealthChecker checker(agreement);
  checker.configure(c);

  REQUIRE(eventually([&] { return uas.seen >= 3; }, std::chrono::seconds(5)));
  auto st = checker.statuses();
  REQUIRE(st.size() == 1);
  CHECK(st[0].up);
  CHECK(st[0].last_result == "200");
  CHECK(st[0].consecutive_failures == 0);  // the stray and the 100 did not count
  CHECK(server_up(engine));
  {
    // 128 random bits in the Call-ID and in the branch, each probe its own:
    // forging an answer means guessing them (they were 64 bits of a PRNG
    // seeded with 32, predictable from one probe).
    std::lock_guard lock(uas.ids_mutex);
    const std::regex probe(R"(([0-9a-f]{32})-[0-9]+@sipvsd .*;branch=z9hG4bK-sipvsd-([0-9a-f]{32});rport)");
    std::set<std::string> randoms;
    for (const std::string& id : uas.ids) {
      std::smatch m;
      REQUIRE_MESSAGE(std::regex_match(id, m, probe), id);
      randoms.insert(m[1]);
      randoms.insert(m[2]);
    }
    CHECK(randoms.size() == 2 * uas.ids.size());
  }

  uas.answer = false;
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return !server_up(engine); }, std::chrono::seconds(5)));
  const auto detect = std::chrono::steady_clock::now() - t0;
  CHECK(detect < std::chrono::milliseconds(3 * 100 + 300));  // failures x interval + margin
  st = checker.statuses();
  CHECK_FALSE(st[0].up);
  CHECK(st[0].last_result == "timeout");
  CHECK(st[0].last_change != 0);

  uas.answer = true;
  REQUIRE(eventually([&] { return server_up(engine); }, std::chrono::seconds(5)));
  CHECK(checker.statuses()[0].consecutive_successes >= 2);

  // A code outside `codes` is a failure.
  c.health_checks["s"].service.codes = {404};
  checker.configure(c);
  REQUIRE(eventually([&] { return !server_up(engine); }, std::chrono::seconds(5)));
  CHECK(checker.statuses()[0].last_result == "200");

  // No longer checked: up again at once.
  c.health_checks.clear();
  checker.configure(c);
  CHECK(server_up(engine));
  CHECK(checker.statuses().empty());
  checker.stop();
}

TEST_CASE("HealthChecker: an answer in compact form with a folded Via counts") {
  Responder uas;
  uas.terse = true;
  const sipvsd::DaemonConfig c =
      checked_responder(uas, {{"interval_ms", 100}, {"timeout_ms", 50}, {"failures", 2}, {"successes", 1}});
  sipvs::Engine engine(c.engine);
  sipvsd::ServerHealthAgreement agreement(engine, sipvsd::ServerHealthMode::local);
  sipvsd::HealthChecker checker(agreement);
  checker.configure(c);

  REQUIRE(eventually([&] { return uas.seen >= 4; }, std::chrono::seconds(5)));
  const auto st = checker.statuses();
  REQUIRE(st.size() == 1);
  CHECK(st[0].up);
  CHECK(st[0].last_result == "200");
  CHECK(st[0].consecutive_failures == 0);
  CHECK(server_up(engine));
}

TEST_CASE("HealthChecker: IPv6 servers, and a server-level check on an unchecked service") {
  Responder uas(true);
  json j{{"services",
          json::array({json{{"name", "v6"},
                            {"vip", "2001:2:0:2::100"},
                            {"port", 5060},
                            {"scheduler", "rr"},
                            {"servers", json::array({json{{"address", "::1"},
                                                          {"port", uas.port},
                                                          {"mark", 1},
                                                          {"health_check",
                                                           {{"interval_ms", 100},
                                                            {"timeout_ms", 50},
                                                            {"failures", 2},
                                                            {"successes", 1},
                                                            {"on_down", "expire"}}}}})}}})}};
  sipvsd::DaemonConfig c = sipvsd::parse_config(j);
  CHECK_FALSE(c.health_checks.at("v6").enabled);
  sipvs::Engine engine(c.engine);
  sipvsd::ServerHealthAgreement agreement(engine, sipvsd::ServerHealthMode::local);
  sipvsd::HealthChecker checker(agreement);
  checker.configure(c);
  REQUIRE(eventually([&] { return uas.seen >= 2 && checker.statuses()[0].last_result == "200"; },
                     std::chrono::seconds(5)));
  CHECK(checker.statuses()[0].last_rtt_ms >= 0);
  uas.answer = false;
  REQUIRE(eventually([&] { return !server_up(engine, "::1"); }, std::chrono::seconds(5)));
  uas.answer = true;
  REQUIRE(eventually([&] { return server_up(engine, "::1"); }, std::chrono::seconds(5)));
  checker.stop();
}

TEST_CASE("health_check: local_address of the other family than a server it probes is an error") {
  CHECK(test::error_field(service_with(json{{"local_address", "::1"}})) == "services[0].health_check.local_address");
  CHECK(test::error_reason(service_with(json{{"local_address", "::1"}})) ==
        "::1 cannot probe 127.0.0.1: not the same address family");
  CHECK(test::error_field(service_with(nullptr, json{{"local_address", "::1"}})) ==
        "services[0].servers[0].health_check.local_address");
  // A server with its own check is probed from its own local_address.
  CHECK(test::error_field(service_with(json{{"local_address", "::1"}}, json{{"local_address", "127.0.0.1"}})) ==
        "services[0].health_check.local_address");  // the second server still takes the service's
  CHECK(test::error_field(service_with(json{{"local_address", "127.0.0.1"}})) == "");
}
