#include "api/http_server.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "daemon/config/api_config.hpp"
#include "api/host_check.hpp"
#include "daemon/log.hpp"

namespace sipvsd::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// A listener's connection budget. Over `max`, as many again are read and
// answered 503 (a clean refusal rather than a reset); beyond that a
// connection is closed at once. Touched on the I/O thread only.
struct ConnectionBudget {
  std::size_t max = 0;
  std::size_t active = 0, refused = 0;
};

struct HttpServer::Shared {
  const Router& router;
  ServerLimits limits;
  ConnectionBudget tcp, unix;
  std::map<asio::ip::address, std::size_t> per_client;  // open TCP connections by client address
  asio::io_context& handlers;                         // where router.handle runs
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_socket::acceptor> unix_acceptor;
};

namespace {

bool is_healthz(std::string_view target) { return target.substr(0, target.find('?')) == "/healthz"; }

// RFC 9112 section 6.1: a transfer coding other than chunked cannot be read,
// and a request with both Transfer-Encoding and Content-Length is ambiguous;
// either, passed on, lets a body be read as a second, hidden request.
std::optional<std::string> unreadable_framing(const Request& request) {
  const auto codings = request.equal_range(http::field::transfer_encoding);
  if (codings.first == codings.second) return std::nullopt;
  if (std::next(codings.first) != codings.second) return "Transfer-Encoding given twice";
  std::string_view value = codings.first->value();
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (!beast::iequals(value, "chunked"))
    return "Transfer-Encoding \"" + std::string(value) + "\" is not supported (only chunked)";
  if (request.count(http::field::content_length) > 0) return "both Transfer-Encoding and Content-Length";
  return std::nullopt;
}

// One open connection's share of its listener's budget (and, on TCP, of its
// client address's), given back when the connection goes.
template <class Protocol>
class Slot {
 public:
  Slot(HttpServer::Shared& shared, const typename Protocol::socket& socket) : shared_(shared) {
    ConnectionBudget& b = budget();
    bool over = b.active >= b.max;
    if constexpr (std::is_same_v<Protocol, tcp>) {
      beast::error_code ec;
      const auto remote = socket.remote_endpoint(ec);
      if (!ec) {
        client_ = remote.address();
        const auto open = shared_.per_client.find(*client_);
        over = over || (open != shared_.per_client.end() && open->second >= shared_.limits.max_connections_per_client);
      }
    }
    if (over && b.refused >= b.max) return;  // not even a refusal: closed at once
    state_ = over ? State::refused : State::active;
    ++(over ? b.refused : b.active);
    if (client_ && !over) ++shared_.per_client[*client_];
  }
  ~Slot() {
    if (state_ == State::none) return;
    ConnectionBudget& b = budget();
    --(state_ == State::refused ? b.refused : b.active);
    if (client_ && state_ == State::active) {
      const auto it = shared_.per_client.find(*client_);
      if (--it->second == 0) shared_.per_client.erase(it);
    }
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  bool granted() const { return state_ != State::none; }
  bool refused() const { return state_ == State::refused; }

 private:
  ConnectionBudget& budget() { return std::is_same_v<Protocol, tcp> ? shared_.tcp : shared_.unix; }

  enum class State { none, active, refused };
  HttpServer::Shared& shared_;
  std::optional<asio::ip::address> client_;
  State state_ = State::none;
};

template <class Protocol>
class Connection : public std::enable_shared_from_this<Connection<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;

  Connection(typename Protocol::socket socket, std::shared_ptr<HttpServer::Shared> shared,
             std::unique_ptr<Slot<Protocol>> slot)
      : stream_(std::move(socket)), shared_(std::move(shared)), slot_(std::move(slot)), buffer_(kBufferLimit) {}

  void start() { read_header(); }

 private:
  // Unparsed bytes held at once; the body goes straight into the request.
  static constexpr std::size_t kBufferLimit = 64 * 1024;
  // How long and how much a closing connection still reads and drops.
  static constexpr std::chrono::milliseconds kLinger{1000};
  static constexpr std::size_t kLingerBytes = 1024 * 1024;

  const ServerLimits& limits() const { return shared_->limits; }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().header_limit));
    parser_->body_limit(limits().body_limit);
    stream_.expires_after(limits().header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail(ec);
    if (auto why = unreadable_framing(parser_->get())) {
      LOG_DEBUG(1, "api: bad request: %s", why->c_str());
      return respond_and_close(ApiError(http::status::bad_request, *why));
    }
    // One deadline for the whole request, header and body: a client that
    // sends a byte now and then does not get to keep the connection.
    stream_.expires_after(limits().request_timeout);
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
    if (slot_->refused()) {
      const std::size_t max = std::is_same_v<Protocol, tcp> ? limits().max_connections : limits().max_unix_connections;
      response_ = problem_response(ApiError(http::status::service_unavailable,
                                            "too many connections (" + std::to_string(max) + " per listener, " +
                                                std::to_string(limits().max_connections_per_client) +
                                                " per client address); retry later"));
      response_.set(http::field::retry_after, "1");
      response_.keep_alive(false);
      return write(true);
    }
    if constexpr (std::is_same_v<Protocol, tcp>) {
      // The Unix socket's clients are whoever its file mode lets in; curl
      // sends a Host of its own there.
      beast::error_code ec;
      const auto local = stream_.socket().local_endpoint(ec);
      const auto host = request.find(http::field::host);
      if (host == request.end()) {
        // HTTP/1.0 may leave Host out (no browser does); HTTP/1.1 must not (RFC 9112 section 3.2).
        if (request.version() >= 11)
          return respond_and_close(ApiError(http::status::bad_request, "an HTTP/1.1 request needs a Host header"));
      } else if (ec || !host_allowed(host->value(), local.address())) {
        return respond_and_close(ApiError(
            http::status::misdirected_request,
            "Host \"" + std::string(host->value()) +
                "\" does not name this listener: use its address or localhost (DNS rebinding protection)"));
      }
    }
    if (is_healthz(request.target())) return finish(shared_->router.handle(request));
    // The handler runs on the handlers' thread; its response comes back here.
    // The handlers' thread lets go of the connection before the I/O thread
    // may, so that the connection always ends on the I/O thread.
    asio::post(shared_->handlers, [self = this->shared_from_this()]() mutable {
      Response response = self->shared_->router.handle(self->parser_->get());
      auto executor = self->stream_.get_executor();
      asio::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
        self->finish(std::move(response));
      });
    });
  }

  void finish(Response response) {
    const Request& request = parser_->get();
    response_ = std::move(response);
    response_.keep_alive(request.keep_alive());
    LOG_DEBUG(2, "api: %s %s -> %u", std::string(request.method_string()).c_str(),
              std::string(request.target()).c_str(), response_.result_int());
    write(false);
  }

  void respond_and_close(const ApiError& error) {
    response_ = problem_response(error);
    response_.keep_alive(false);
    write(true);
  }

  // A request that cannot be read gets an error and the connection closes.
  void fail(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset)
      return close();
    if (ec == beast::error::timeout) {
      LOG_DEBUG(1, "api: connection closed: no complete request within the deadline");
      return close();
    }
    LOG_DEBUG(1, "api: bad request: %s", ec.message().c_str());
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return respond_and_close(ApiError(http::status::request_header_fields_too_large,
                                        "the request header is larger than " +
                                            std::to_string(limits().header_limit) + " bytes"));
    if (ec == http::error::body_limit)
      return respond_and_close(ApiError(http::status::payload_too_large,
                                        "the body is larger than " + std::to_string(limits().body_limit) + " bytes"));
    respond_and_close(ApiError(http::status::bad_request, "malformed HTTP request: " + ec.message()));
  }

  void write(bool then_close) {
    stream_.expires_after(limits().write_timeout);
    http::async_write(stream_, response_,
                      [self = this->shared_from_this(), then_close](beast::error_code ec, std::size_t) {
                        if (ec || then_close || self->response_.need_eof()) return self->close();
                        self->read_header();
                      });
  }

  // A lingering close: closing a socket with unread input (the rest of a
  // refused request) sends a reset, which can destroy the response still on
  // its way to the client. So: end our side, drop what still comes for a
  // moment, then close.
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::socket_base::shutdown_send, ignored);
    stream_.expires_after(kLinger);
    drain(0);
  }

  void drain(std::size_t drained) {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = this->shared_from_this(), drained](beast::error_code ec, std::size_t n) {
                              if (ec || drained + n > kLingerBytes) return self->stream_.close();
                              self->drain(drained + n);
                            });
  }

  Stream stream_;
  std::shared_ptr<HttpServer::Shared> shared_;
  std::unique_ptr<Slot<Protocol>> slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Response response_;
  std::array<char, 4096> discard_;
};

template <class Acceptor>
void accept_loop(Acceptor& acceptor, std::shared_ptr<HttpServer::Shared> shared) {
  using Protocol = typename Acceptor::protocol_type;
  acceptor.async_accept([&acceptor, shared](beast::error_code ec, typename Protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stopping
    if (!ec) {
      auto slot = std::make_unique<Slot<Protocol>>(*shared, socket);
      if (slot->refused()) LOG_DEBUG(1, "api: connection budget spent: refusing one more");
      if (slot->granted())
        std::make_shared<Connection<Protocol>>(std::move(socket), shared, std::move(slot))->start();
      // else: the socket closes as it goes out of scope.
    } else {
      // EMFILE and the like: keep accepting; the next try may succeed.
      LOG_WARN("api: accept: %s", ec.message().c_str());
    }
    accept_loop(acceptor, shared);
  });
}

tcp::endpoint parse_listen(const std::string& listen) {
  const auto at = parse_listen_address(listen);
  if (!at) throw std::runtime_error("api.listen \"" + listen + "\": expected a numeric ip:port or [ipv6]:port");
  return tcp::endpoint(asio::ip::make_address(at->address.to_string()), at->port);
}

}  // namespace

HttpServer::HttpServer(const Router& router, const std::string& listen, const std::string& unix_path,
                       ServerLimits limits)
    : io_(std::make_unique<asio::io_context>(1)), handler_io_(std::make_unique<asio::io_context>(1)) {
  shared_ = std::make_shared<Shared>(Shared{router,
                                            limits,
                                            {limits.max_connections, 0, 0},
                                            {limits.max_unix_connections, 0, 0},
                                            {},
                                            *handler_io_,
                                            std::nullopt,
                                            std::nullopt});
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
  // Pending handlers and acceptors hold connections and sockets of io_: they go first.
  handler_io_.reset();
  shared_->tcp_acceptor.reset();
  shared_->unix_acceptor.reset();
  io_.reset();
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

void HttpServer::start() {
  if (shared_->tcp_acceptor) accept_loop(*shared_->tcp_acceptor, shared_);
  if (shared_->unix_acceptor) accept_loop(*shared_->unix_acceptor, shared_);
  // An exception escaping a handler would end the thread silently; log it and go on.
  auto run = [](asio::io_context& io, const char* name) {
    pthread_setname_np(pthread_self(), name);
    const auto work = asio::make_work_guard(io);  // the handlers' context idles between requests
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        LOG_ERR("api: %s", e.what());
      }
    }
  };
  handler_thread_ = std::thread(run, std::ref(*handler_io_), "sipvsd-api-h");
  thread_ = std::thread(run, std::ref(*io_), "sipvsd-api");
}

void HttpServer::stop() {
  // Handlers first: none runs, or posts a response, once the I/O thread is gone.
  if (handler_thread_.joinable()) {
    handler_io_->stop();
    handler_thread_.join();
  }
  if (thread_.joinable()) {
    io_->stop();
    thread_.join();
  }
}

}  // namespace sipvsd::api
