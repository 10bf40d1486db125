#include "api/routes.hpp"

namespace sipvsd::api {

Router make_router(ControlPlane& control, const Rates& rates, DaemonReadouts readouts, std::string token) {
  Router router(std::move(token));
  add_service_routes(router, control);
  add_server_routes(router, control);
  add_template_routes(router, control);
  add_stats_routes(router, control, rates, std::move(readouts));
  add_config_routes(router, control);
  return router;
}

}  // namespace sipvsd::api
