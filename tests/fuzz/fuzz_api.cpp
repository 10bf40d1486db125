// libFuzzer target for the REST API in process: the router that the server
// uses (make_router over a ControlPlane and an Engine holding a few
// templates, state file in a scratch directory) handles up to 8 requests
// read from the input, one after another on the same state. A request is
// either built from fields (method, target, content type, token, body) or
// raw bytes through Boost.Beast's request parser with the server's limits.
// handle() must not throw; a 500 other than a failed state write means an
// exception no handler expected; the engine must run what the control plane
// holds after every request. Any of these traps.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "../api/fixtures.hpp"
#include "../unit/packet_builder.hpp"
#include "fuzz_input.hpp"
#include "api/routes.hpp"

namespace {

using namespace sipvsd;
using namespace sipvsd::api;

[[noreturn]] void fail(const std::string& what) {
  printf("fuzz_api: %s\n", what.c_str());
  fflush(stdout);
  __builtin_trap();
}

const http::verb kMethods[] = {http::verb::get,    http::verb::post, http::verb::put,    http::verb::patch,
                               http::verb::delete_, http::verb::head, http::verb::options, http::verb::get};
const char* const kContentTypes[] = {"application/json", "application/merge-patch+json", "text/plain", ""};
const std::string kToken = "fuzz-token";

// The tests' configuration with a small table: one sized for the default
// million templates costs more to set up than the requests to handle.
DaemonConfig small_config() {
  DaemonConfig c = test::sip_config(fuzz::scratch_dir() + "/state.json");
  c.engine.max_templates = 64;
  return c;
}

struct Harness {
  explicit Harness(bool with_token)
      : start(small_config()),
        engine(start.engine),
        control(engine, start),
        router(make_router(control, rates, {}, with_token ? kToken : std::string())) {
    // A few calls in progress, for the template routes to list and flush.
    auto worker = engine.make_decider();
    for (const char* call : {"a84b4c76e66710@198.18.0.1", "call-7@example", "call-8@example"}) {
      const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call));
      worker.decide(p, 0, sipvs::monotonic_seconds());
    }
  }

  DaemonConfig start;
  sipvs::Engine engine;
  ControlPlane control;
  Rates rates;
  Router router;
};

Request built_request(fuzz::Input& in, uint8_t flags) {
  Request req{kMethods[flags & 7], std::string(in.text()), 11};
  const char* type = kContentTypes[(flags >> 3) & 3];
  if (*type) req.set(http::field::content_type, type);
  if (flags & 0x20) req.set(http::field::authorization, "Bearer " + kToken);
  req.body() = std::string(in.text());
  req.prepare_payload();
  return req;
}

// The raw bytes as the server reads them; nullopt if the parser refuses them.
std::optional<Request> parsed_request(fuzz::Input& in) {
  const std::string_view raw = in.text();
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (used < raw.size() && !parser.is_done()) {
    const std::size_t n = parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return std::nullopt;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done()) return std::nullopt;
  return parser.release();
}

void handle(Harness& h, const Request& req) {
  Response res;
  try {
    res = h.router.handle(req);
  } catch (const std::exception& e) {
    fail(std::string("handle() threw: ") + e.what());
  } catch (...) {
    fail("handle() threw a non-exception");
  }
  const unsigned status = res.result_int();
  if (status < 200 || status > 599) fail("status " + std::to_string(status));
  // The scratch directory is writable: a 500 is an exception no handler expected.
  if (status == 500) fail("500 for " + std::string(req.method_string()) + " " + std::string(req.target()) + ": " + res.body());
  if (h.engine.config() != h.control.config().engine)
    fail("the engine does not run what the control plane holds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  std::filesystem::remove(fuzz::scratch_dir() + "/state.json");
  std::filesystem::remove(fuzz::scratch_dir() + "/state.json.templates");
  Harness h(in.byte() & 1);
  for (int i = 0; i < 8 && !in.empty(); ++i) {
    const uint8_t flags = in.byte();
    if (flags & 0x80) {
      if (auto req = parsed_request(in)) handle(h, *req);
    } else {
      handle(h, built_request(in, flags));
    }
  }
  return 0;
}
