#pragma once
// HTTP/1.1 on Boost.Beast. One thread does the I/O and answers /healthz;
// the handlers run one at a time on a second thread (no locking between
// them), so a large request never keeps /healthz or the reading of other
// requests waiting, and the data path waits for neither. Listens on TCP
// and/or a Unix socket, with limits that keep a misbehaving client from
// hurting the daemon: header and body size, connections per listener and per
// client, deadlines for the header and for the whole request, and only
// transfer codings it can read (anything else could smuggle a request).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "api/router.hpp"

namespace sipvsd::api {

struct ServerLimits {
  // Connections per listener: the TCP listener and the Unix socket each have
  // their own, so that TCP clients can never lock the Unix socket's users out.
  std::size_t max_connections = 64;
  std::size_t max_unix_connections = 16;
  // Open TCP connections per client address, within max_connections.
  std::size_t max_connections_per_client = 16;
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // From the moment a connection waits for a request (idle keep-alive time
  // counts too) until its header is complete: an idle or trickling client
  // gives its slot back soon.
  std::chrono::milliseconds header_timeout{5'000};
  // Until the whole request, body included, is read.
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
  // The handlers' thread, for periodic work that handlers read without
  // locks (rate sampling).
  boost::asio::io_context& handler_context() { return *handler_io_; }

  // What the connections share with the server (router, limits, count, acceptors).
  struct Shared;

 private:
  void bind(const std::string& listen, const std::string& unix_path);  // throws std::runtime_error

  std::vector<std::string> endpoints_;
  std::string unix_path_;
  std::thread thread_, handler_thread_;
  std::shared_ptr<Shared> shared_;
  // Last, so they are destroyed first (handlers' before the I/O's: a pending
  // handler holds a connection whose socket belongs to io_).
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::io_context> handler_io_;
};

}  // namespace sipvsd::api
