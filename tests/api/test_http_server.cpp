// The HTTP server: start-up errors (an address in use or a path that is not
// a socket stops it with a clear error, and, under ASan, without touching
// freed memory while the half-built server unwinds), and what it does
// against hostile clients: request smuggling, DNS rebinding, idle
// connections, trickled headers, a handler that takes long.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "fixtures.hpp"
#include "api/http_server.hpp"
#include "api/routes.hpp"

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

namespace {

// A raw HTTP/1.1 client: exact bytes out, whatever comes back until the
// server closes or `wait` passes without a byte. From `source` (TCP), so
// that tests can be several client addresses on the loopback.
class RawClient {
 public:
  RawClient(const std::string& endpoint, const std::string& source = "127.0.0.1") {
    if (endpoint.rfind("unix:", 0) == 0) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", endpoint.c_str() + 5);
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{}, to{};
    from.sin_family = to.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    const auto colon = endpoint.rfind(':');
    ::inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &to.sin_addr);
    to.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  void send(const std::string& bytes) { REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())); }
  // Reads until the peer closes (closed() is then true) or nothing comes for `wait`.
  std::string receive(std::chrono::milliseconds wait = std::chrono::milliseconds(2000)) {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return out;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // The status line of one exchange.
  std::string exchange(const std::string& request) {
    send(request);
    const std::string r = receive(std::chrono::milliseconds(500));
    return r.substr(0, r.find("\r\n"));
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false, closed_ = false;
};

std::string get(const std::string& path, const std::string& host = "localhost") {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
}

// A server on 127.0.0.1:0 and a Unix socket, with routes that count their calls.
struct CountingServer {
  explicit CountingServer(ServerLimits limits = {}) : server(make(), "127.0.0.1:0", dir.file("api.sock"), limits) {
    server.start();
  }
  Router& make() {
    router.add(http::verb::get, "/healthz", [](const RequestContext&) { return empty_response(http::status::ok); });
    router.add(http::verb::post, "/v1/things", [this](const RequestContext&) {
      ++posts;
      return empty_response(http::status::created);
    });
    router.add(http::verb::delete_, "/v1/things", [this](const RequestContext&) {
      ++deletes;
      return empty_response(http::status::no_content);
    });
    router.add(http::verb::get, "/v1/slow", [this](const RequestContext&) {
      slow_started = true;
      release.get_future().wait_for(std::chrono::seconds(10));
      return empty_response(http::status::ok);
    });
    return router;
  }
  std::string tcp() const { return server.endpoints()[0]; }
  std::string unix_socket() const { return server.endpoints()[1]; }

  test::TempDir dir;
  Router router;
  std::atomic<int> posts{0}, deletes{0};
  std::atomic<bool> slow_started{false};
  std::promise<void> release;
  HttpServer server;
};

}  // namespace

TEST_CASE("HttpServer: a transfer coding other than chunked is refused; no hidden request runs") {
  CountingServer s;
  // The body is a second request: read as "no body", it would run.
  const std::string hidden = "DELETE /v1/things HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (const std::string coding : {"gzip", "gzip, chunked", "chunked, gzip", "identity", " Chunked2"}) {
    CAPTURE(coding);
    RawClient c(s.tcp());
    c.send("POST /v1/things HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: " +
           coding + "\r\n\r\n" + hidden);
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(r.find("is not supported (only chunked)") != std::string::npos);
    CHECK(r.find("HTTP/1.1", 1) == std::string::npos);  // one response only
    CHECK(c.closed());
  }
  RawClient both(s.tcp());
  both.send("POST /v1/things HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: "
            "chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + hidden);
  CHECK(both.receive().rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(s.posts == 0);
  CHECK(s.deletes == 0);
  // Chunked alone is read as such.
  RawClient chunked(s.tcp());
  CHECK(chunked.exchange("POST /v1/things HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n") == "HTTP/1.1 201 Created");
  CHECK(s.posts == 1);
}

TEST_CASE("HttpServer: on TCP, a Host that is neither the listener's address nor the loopback gets 421") {
  CountingServer s;
  const std::string port = s.tcp().substr(s.tcp().rfind(':') + 1);
  for (const std::string& host : std::vector<std::string>{"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "LOCALHOST", "localhost.",
                                 "[::1]:" + port, "127.9.9.9"}) {
    CAPTURE(host);
    RawClient c(s.tcp());
    CHECK(c.exchange(get("/v1/things/none", host)) == "HTTP/1.1 404 Not Found");
  }
  for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example:" + port, "localhost.evil.example", "198.18.0.1",
                                 "[::1", "127.0.0.1.nip.io"}) {
    CAPTURE(host);
    RawClient c(s.tcp());
    c.send(get("/healthz", host));
    const std::string r = c.receive();
    CHECK(r.rfind("HTTP/1.1 421 Misdirected Request\r\n", 0) == 0);
    CHECK(r.find("DNS rebinding") != std::string::npos);
    CHECK(c.closed());
  }
  RawClient no_host(s.tcp());
  CHECK(no_host.exchange("GET /healthz HTTP/1.1\r\n\r\n") == "HTTP/1.1 400 Bad Request");
  RawClient http10(s.tcp());
  CHECK(http10.exchange("GET /healthz HTTP/1.0\r\n\r\n") == "HTTP/1.1 200 OK");
  // The Unix socket's clients are let in by its file mode, with any Host.
  RawClient on_unix(s.unix_socket());
  CHECK(on_unix.exchange(get("/healthz", "evil.example")) == "HTTP/1.1 200 OK");
}

TEST_CASE("HttpServer: idle TCP clients lock out neither the Unix socket nor other client addresses") {
  ServerLimits limits;
  limits.max_connections = 6;
  limits.max_connections_per_client = 3;
  limits.max_unix_connections = 2;
  CountingServer s(limits);
  std::vector<std::unique_ptr<RawClient>> idle;
  // 127.0.0.1 takes its 3; its 4th is answered 503.
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawClient>(s.tcp()));
  RawClient fourth(s.tcp());
  CHECK(fourth.exchange(get("/healthz")) == "HTTP/1.1 503 Service Unavailable");
  // Another address still gets in, up to the listener's budget of 6.
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawClient>(s.tcp(), "127.0.0.2"));
  RawClient seventh(s.tcp(), "127.0.0.3");
  CHECK(seventh.exchange(get("/healthz")) == "HTTP/1.1 503 Service Unavailable");
  // The Unix socket has its own budget.
  RawClient on_unix(s.unix_socket());
  CHECK(on_unix.exchange(get("/healthz")) == "HTTP/1.1 200 OK");
  // A slot given back is taken again.
  idle.erase(idle.begin());
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {  // the server sees the close asynchronously
    RawClient again(s.tcp());
    served = again.exchange(get("/healthz")) == "HTTP/1.1 200 OK";
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
}

TEST_CASE("HttpServer: a connection without a complete header within header_timeout is cut") {
  ServerLimits limits;
  limits.header_timeout = std::chrono::milliseconds(300);
  CountingServer s(limits);
  RawClient silent(s.tcp());
  RawClient trickle(s.tcp());
  trickle.send("GET /healthz HTTP/1.1\r\nHost: local");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(silent.receive(std::chrono::milliseconds(5000)).empty());
  CHECK(silent.closed());
  CHECK(trickle.receive(std::chrono::milliseconds(5000)).empty());
  CHECK(trickle.closed());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(4000));  // not the 10 s request deadline
}

TEST_CASE("HttpServer: /healthz is answered while a handler is busy") {
  CountingServer s;
  RawClient slow(s.tcp());
  slow.send(get("/v1/slow"));
  for (int i = 0; i < 200 && !s.slow_started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(s.slow_started);
  // The slow handler waits for us: /healthz must not wait for it.
  RawClient health(s.tcp());
  CHECK(health.exchange(get("/healthz")) == "HTTP/1.1 200 OK");
  s.release.set_value();
  CHECK(slow.receive(std::chrono::milliseconds(500)).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}
