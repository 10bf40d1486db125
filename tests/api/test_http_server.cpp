// The HTTP server's start-up errors: an address in use or a path that is not
// a socket stops it with a clear error (and, under ASan, without touching
// freed memory while the half-built server unwinds).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "fixtures.hpp"
#include "http_server.hpp"
#include "routes.hpp"

using namespace sipvsd;
using namespace sipvsd::api;

namespace {

// A TCP port on 127.0.0.1 that something else listens on, while it lives.
class BusyPort {
 public:
  BusyPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~BusyPort() { ::close(fd_); }
  std::string listen() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("HttpServer: an address in use or a path that is not a socket is a start-up error") {
  test::TempDir dir;
  DaemonConfig config = test::sip_config();
  sipvs::Engine engine(config.engine);
  ControlPlane control(engine, config);
  Rates rates;
  const Router router = make_router(control, rates, {}, {});

  BusyPort busy;
  CHECK_THROWS_WITH_AS(HttpServer(router, busy.listen(), ""), doctest::Contains(("listen on " + busy.listen()).c_str()),
                       std::runtime_error);

  // The TCP acceptor is already open when the Unix socket path fails.
  const std::string not_a_socket = dir.file("api.sock");
  std::ofstream(not_a_socket) << "a file\n";
  CHECK_THROWS_WITH_AS(HttpServer(router, "127.0.0.1:0", not_a_socket), doctest::Contains("is not a socket"),
                       std::runtime_error);

  HttpServer ok(router, "127.0.0.1:0", dir.file("ok.sock"));
  CHECK(ok.endpoints().size() == 2);
}
