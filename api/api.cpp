#include "api/api.hpp"

#include <sys/stat.h>

#include <boost/asio/steady_timer.hpp>

#include "api/auth.hpp"
#include "daemon/log.hpp"

namespace sipvsd::api {

void check_api_files(const ApiConfig& config) {
  if (!config.token_file.empty()) {
    try {
      load_token(config.token_file);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string("api.token_file: ") + e.what());
    }
  }
  if (!config.unix_socket.empty()) {
    const auto slash = config.unix_socket.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : config.unix_socket.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw std::runtime_error("api.unix_socket: " + config.unix_socket + ": directory " + dir +
                               (::stat(dir.c_str(), &st) != 0 ? " does not exist" : " is not a directory"));
    if (::lstat(config.unix_socket.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
      throw std::runtime_error("api.unix_socket: " + config.unix_socket + " exists and is not a socket");
  }
}

struct Api::Impl {
  Impl(ControlPlane& c, const ApiConfig& config, DaemonReadouts readouts, ServerLimits limits)
      : control(c),
        token(!config.token_file.empty()),
        router(make_router(c, rates, std::move(readouts),
                           config.token_file.empty() ? std::string() : load_token(config.token_file))),
        server(router, config.listen, config.unix_socket, limits),
        timer(server.handler_context()) {}

  // Rates are counter differences over a fixed interval, sampled on the
  // handlers' thread so that handlers read them without locks.
  void sample() {
    rates.sample(control.engine().stats(), std::chrono::steady_clock::now());
    timer.expires_after(Rates::kInterval);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) sample();
    });
  }

  ControlPlane& control;
  bool token;
  Rates rates;
  Router router;
  HttpServer server;
  boost::asio::steady_timer timer;  // after server: destroyed before its io_context
};

Api::Api(ControlPlane& control, const ApiConfig& config, DaemonReadouts readouts, ServerLimits limits) {
  check_api_files(config);
  impl_ = std::make_unique<Impl>(control, config, std::move(readouts), limits);
}

Api::~Api() { stop(); }

void Api::start() {
  impl_->sample();
  impl_->server.start();
  for (const auto& e : impl_->server.endpoints())
    LOG_NOTICE("api: listening on %s%s", e.c_str(), impl_->token ? " (bearer token required)" : "");
}

void Api::stop() { impl_->server.stop(); }

const std::vector<std::string>& Api::endpoints() const { return impl_->server.endpoints(); }

}  // namespace sipvsd::api
