#include "http_server.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "log.hpp"

namespace sipvsd::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

struct HttpServer::Shared {
  const Router& router;
  ServerLimits limits;
  // Open connections, touched on the I/O thread only. Over the limit, as many
  // again are read and answered 503 (a clean refusal rather than a reset);
  // beyond that a connection is closed at once.
  std::size_t active = 0, refused = 0;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_socket::acceptor> unix_acceptor;
};

namespace {

template <class Protocol>
class Connection : public std::enable_shared_from_this<Connection<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;

  // `refuse`: over the connection limit; its request gets 503.
  Connection(typename Protocol::socket socket, std::shared_ptr<HttpServer::Shared> shared, bool refuse)
      : stream_(std::move(socket)), shared_(std::move(shared)), refuse_(refuse), buffer_(kBufferLimit) {
    ++(refuse_ ? shared_->refused : shared_->active);
  }
  ~Connection() { --(refuse_ ? shared_->refused : shared_->active); }

  void start() { read_header(); }

 private:
  // Unparsed bytes held at once; the body goes straight into the request.
  static constexpr std::size_t kBufferLimit = 64 * 1024;

  const ServerLimits& limits() const { return shared_->limits; }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().header_limit));
    parser_->body_limit(limits().body_limit);
    // One deadline for the whole request, header and body: a client that
    // sends a byte now and then does not get to keep the connection.
    stream_.expires_after(limits().request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail(ec);
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      // curl waits for this before sending a large body.
      continue_.emplace(http::status::continue_, 11);
      http::async_write(stream_, *continue_, [self = this->shared_from_this()](beast::error_code ec2, std::size_t) {
        if (ec2) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail(ec);
      self->respond();
    });
  }

  void respond() {
    const Request& request = parser_->get();
    if (refuse_) {
      response_ = problem_response(ApiError(http::status::service_unavailable,
                                            "too many connections (" + std::to_string(limits().max_connections) +
                                                "); retry later"));
      response_.set(http::field::retry_after, "1");
      response_.keep_alive(false);
      return write(true);
    }
    response_ = shared_->router.handle(request);
    response_.keep_alive(request.keep_alive());
    LOG_DEBUG(2, "api: %s %s -> %u", std::string(request.method_string()).c_str(),
              std::string(request.target()).c_str(), response_.result_int());
    write(false);
  }

  // A request that cannot be read gets an error and the connection closes.
  void fail(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset)
      return close();
    if (ec == beast::error::timeout) {
      LOG_DEBUG(1, "api: connection closed: no complete request within %lld ms",
                static_cast<long long>(limits().request_timeout.count()));
      return close();
    }
    std::optional<ApiError> error;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      error.emplace(http::status::request_header_fields_too_large,
                    "the request header is larger than " + std::to_string(limits().header_limit) + " bytes");
    else if (ec == http::error::body_limit)
      error.emplace(http::status::payload_too_large,
                    "the body is larger than " + std::to_string(limits().body_limit) + " bytes");
    else
      error.emplace(http::status::bad_request, "malformed HTTP request: " + ec.message());
    LOG_DEBUG(1, "api: bad request: %s", ec.message().c_str());
    response_ = problem_response(*error);
    response_.keep_alive(false);
    write(true);
  }

  void write(bool then_close) {
    stream_.expires_after(limits().write_timeout);
    http::async_write(stream_, response_,
                      [self = this->shared_from_this(), then_close](beast::error_code ec, std::size_t) {
                        if (ec || then_close || self->response_.need_eof()) return self->close();
                        self->read_header();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::socket_base::shutdown_send, ignored);
    stream_.close();
  }

  Stream stream_;
  std::shared_ptr<HttpServer::Shared> shared_;
  bool refuse_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Response response_;
};

template <class Acceptor>
void accept_loop(Acceptor& acceptor, std::shared_ptr<HttpServer::Shared> shared) {
  acceptor.async_accept([&acceptor, shared](beast::error_code ec, typename Acceptor::protocol_type::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stopping
    if (!ec) {
      const std::size_t max = shared->limits.max_connections;
      if (shared->active < max || shared->refused < max) {
        const bool refuse = shared->active >= max;
        if (refuse) LOG_DEBUG(1, "api: %zu connections open: refusing one more", shared->active);
        std::make_shared<Connection<typename Acceptor::protocol_type>>(std::move(socket), shared, refuse)->start();
      }
      // else: the socket closes as it goes out of scope.
    } else {
      // EMFILE and the like: keep accepting; the next try may succeed.
      LOG_WARN("api: accept: %s", ec.message().c_str());
    }
    accept_loop(acceptor, shared);
  });
}

tcp::endpoint parse_listen(const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find("]:");
    if (close == std::string::npos) throw std::runtime_error("api.listen \"" + listen + "\": expected [v6]:port");
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("api.listen \"" + listen + "\": expected ip:port");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (ec || port.empty() || *end != '\0' || p > 65535)
    throw std::runtime_error("api.listen \"" + listen + "\": expected a numeric ip:port");
  return tcp::endpoint(address, static_cast<unsigned short>(p));
}

}  // namespace

HttpServer::HttpServer(const Router& router, const std::string& listen, const std::string& unix_path,
                       ServerLimits limits)
    : io_(std::make_unique<asio::io_context>(1)) {
  shared_ = std::make_shared<Shared>(Shared{router, limits, 0, 0, std::nullopt, std::nullopt});
  try {
    bind(listen, unix_path);
  } catch (...) {
    // The destructor does not run for a constructor that throws, and the
    // members' own order would destroy the io_context before the acceptors.
    shared_->tcp_acceptor.reset();
    shared_->unix_acceptor.reset();
    throw;
  }
}

void HttpServer::bind(const std::string& listen, const std::string& unix_path) {
  beast::error_code ec;
  auto check = [&](const std::string& what) {
    if (ec) throw std::runtime_error("api: cannot " + what + ": " + ec.message());
  };
  if (!listen.empty()) {
    const tcp::endpoint at = parse_listen(listen);
    auto& a = shared_->tcp_acceptor.emplace(*io_);
    a.open(at.protocol(), ec);
    check("open a socket for " + listen);
    a.set_option(asio::socket_base::reuse_address(true), ec);
    a.bind(at, ec);
    check("listen on " + listen);
    a.listen(asio::socket_base::max_listen_connections, ec);
    check("listen on " + listen);
    const tcp::endpoint bound = a.local_endpoint();
    const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
    endpoints_.push_back(host + ":" + std::to_string(bound.port()));
  }
  if (!unix_path.empty()) {
    // A socket left by an earlier run is replaced; anything else at the path is not.
    struct stat st {};
    if (::lstat(unix_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("api: " + unix_path + " exists and is not a socket");
      ::unlink(unix_path.c_str());
    }
    auto& a = shared_->unix_acceptor.emplace(*io_);
    a.open(unix_socket(), ec);
    check("open a Unix socket");
    a.bind(unix_socket::endpoint(unix_path), ec);
    check("bind " + unix_path);
    // Owner and group only: without a token, whoever can connect can reconfigure.
    if (::chmod(unix_path.c_str(), 0660) != 0) throw std::runtime_error("api: cannot chmod " + unix_path);
    a.listen(asio::socket_base::max_listen_connections, ec);
    check("listen on " + unix_path);
    unix_path_ = unix_path;
    endpoints_.push_back("unix:" + unix_path);
  }
  if (endpoints_.empty()) throw std::runtime_error("api: neither api.listen nor api.unix_socket is set");
}

HttpServer::~HttpServer() {
  stop();
  // Acceptors and pending handlers (connections) go before the io_context.
  shared_->tcp_acceptor.reset();
  shared_->unix_acceptor.reset();
  io_.reset();
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

void HttpServer::start() {
  if (shared_->tcp_acceptor) accept_loop(*shared_->tcp_acceptor, shared_);
  if (shared_->unix_acceptor) accept_loop(*shared_->unix_acceptor, shared_);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sipvsd-api");
    // A handler's exception would end the thread silently; log it and go on.
    for (;;) {
      try {
        io_->run();
        return;
      } catch (const std::exception& e) {
        LOG_ERR("api: %s", e.what());
      }
    }
  });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  io_->stop();
  thread_.join();
}

}  // namespace sipvsd::api
