#pragma once
// The REST API as the daemon runs it: routes, the HTTP server on its own
// thread, the bearer token and the rate sampler. main() creates one after
// the control plane and stops it before the workers.
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/control_plane.hpp"
#include "api/http_server.hpp"
#include "api/routes.hpp"

namespace sipvsd::api {

// What the API needs of the file system at start, beyond check_config: a
// token file that loads (0600 or stricter, not empty) and a directory for
// the Unix socket. Throws std::runtime_error naming the field and path.
// Start-up and --check-config both run it, so they agree.
void check_api_files(const ApiConfig& config);

class Api {
 public:
  // Reads the token file (refusing one that group or others can read) and
  // binds the listeners; throws std::runtime_error if either fails.
  Api(ControlPlane& control, const ApiConfig& config, DaemonReadouts readouts, ServerLimits limits = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  void start();
  void stop();
  const std::vector<std::string>& endpoints() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sipvsd::api
