#pragma once
// HTTP/1.1 on Boost.Beast, on one thread of its own: the data path never
// waits for it, and handlers run one at a time (no locking between them).
// Listens on TCP and/or a Unix socket, with limits that keep a misbehaving
// client from hurting the daemon: header and body size, connection count,
// and a deadline for a whole request (a client trickling bytes is cut off).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "router.hpp"

namespace sipvsd::api {

struct ServerLimits {
  std::size_t max_connections = 64;
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // From the moment a connection waits for a request until the request is
  // complete (idle keep-alive time counts too).
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
};

class HttpServer {
 public:
  // Binds now, so that a bad address or a port in use stops the daemon at
  // start: `listen` is "ip:port" or "[v6]:port" (empty: none), `unix_socket`
  // a path (empty: none). Throws std::runtime_error.
  HttpServer(const Router& router, const std::string& listen, const std::string& unix_socket,
             ServerLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();  // runs the I/O thread
  void stop();   // closes every connection and joins the thread

  // "127.0.0.1:8080", "unix:/run/sipvsd.sock": what it actually listens on.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  // For periodic work on the server's thread (rate sampling).
  boost::asio::io_context& context() { return *io_; }

  // What the connections share with the server (router, limits, count, acceptors).
  struct Shared;

 private:
  void bind(const std::string& listen, const std::string& unix_path);  // throws std::runtime_error

  std::vector<std::string> endpoints_;
  std::string unix_path_;
  std::thread thread_;
  std::shared_ptr<Shared> shared_;
  // Last, so it is destroyed first: pending handlers still reach the members above.
  std::unique_ptr<boost::asio::io_context> io_;
};

}  // namespace sipvsd::api
