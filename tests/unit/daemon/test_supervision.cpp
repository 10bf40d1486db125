// What sipvsd tells systemd: the watchdog's condition and the status line,
// and the sd_notify messages themselves, read from a socket of the test's.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "daemon/config/config_json.hpp"
#include "daemon/config/control_plane.hpp"
#include "daemon/daemon.hpp"
#include "daemon/systemd/service_supervisor.hpp"
#include "daemon/systemd/supervision.hpp"

using namespace std::chrono_literals;

TEST_CASE("watchdog: a worker is stuck when its last round is older than the limit") {
  const auto now = std::chrono::steady_clock::now();
  CHECK_FALSE(sipvsd::stuck_queue({}, now, 5s));
  CHECK_FALSE(sipvsd::stuck_queue({{0, now - 200ms}, {1, now}}, now, 5s));
  CHECK(sipvsd::stuck_queue({{0, now - 200ms}, {3, now - 6s}}, now, 5s) == uint16_t{3});
}

TEST_CASE("status line: queues bound, services, templates of the cap, packets/s") {
  sipvsd::StatusFigures f;
  f.queues = {0, 1};
  f.queues_bound = 2;
  f.services = 1;
  f.templates = 1234;
  f.templates_max = 1000000;
  f.packets_per_second = 150;
  CHECK(sipvsd::status_line(f) == "queues 0-1 (2 of 2 bound), 1 service, 1234 of 1000000 templates, 150 packets/s");
  f.services = 2;
  f.queues_bound = 1;
  CHECK(sipvsd::status_line(f) == "queues 0-1 (1 of 2 bound), 2 services, 1234 of 1000000 templates, 150 packets/s");
}

namespace {

// A NOTIFY_SOCKET of the test's, as systemd would make one, with the
// watchdog on for this process; both undone at the end.
struct FakeSystemd {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::string path = "/tmp/sipvsd-notify-" + std::to_string(getpid());
  FakeSystemd() {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    unlink(path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    setenv("WATCHDOG_USEC", "4000000", 1);
    setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  }
  ~FakeSystemd() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd);
    unlink(path.c_str());
  }
  std::string next() {
    char buf[1024];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

}  // namespace

TEST_CASE("systemd: READY=1 with a status line, then STATUS and WATCHDOG=1 pings every tick, STOPPING=1") {
  FakeSystemd systemd;
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "queues": "0-1", "services": [{"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
      "servers": [{"address": "198.18.1.1", "mark": 1}]}]})"));
  const sipvsd::CheckedConfig checked = sipvsd::check_config(c);
  sipvsd::Daemon daemon(checked);
  sipvsd::ControlPlane control(daemon.engine(), c);
  sipvsd::ServiceSupervisor supervisor(daemon, control, c.queues);
  CHECK(supervisor.tick_interval() == std::chrono::milliseconds(1000));  // a quarter of the watchdog's 4 s
  supervisor.ready();
  CHECK(systemd.next() == "READY=1\nSTATUS=queues 0-1 (0 of 2 bound), 1 service, 0 of 1000000 templates, 0 packets/s");
  supervisor.tick();
  CHECK(systemd.next() ==
        "STATUS=queues 0-1 (0 of 2 bound), 1 service, 0 of 1000000 templates, 0 packets/s\nWATCHDOG=1");
  supervisor.stopping();
  CHECK(systemd.next() == "STOPPING=1\nSTATUS=stopping");
}

TEST_CASE("systemd: nothing is sent without NOTIFY_SOCKET") {
  const sipvsd::DaemonConfig c;
  sipvsd::Daemon daemon(sipvsd::check_config(c));
  sipvsd::ControlPlane control(daemon.engine(), c);
  sipvsd::ServiceSupervisor supervisor(daemon, control, c.queues);
  CHECK_FALSE(supervisor.tick_interval());
}
