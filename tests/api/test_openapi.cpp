// api/openapi.yaml and the router's table describe the same routes: every
// documented path and method exists, every route is documented, and each
// takes the query parameters the document lists.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>

#include "fixtures.hpp"
#include "api/routes.hpp"

using namespace sipvsd;
using namespace sipvsd::api;

namespace {

using RouteKey = std::pair<std::string, std::string>;  // path, method

// A line-based reading of the document's conventions: paths at two spaces
// under "paths:", methods at four, query parameters as one flow mapping per
// line ("- {name: x, in: query, ...}").
std::map<RouteKey, std::set<std::string>> documented(const std::string& file) {
  std::ifstream in(file);
  REQUIRE(in);
  std::map<RouteKey, std::set<std::string>> out;
  bool in_paths = false;
  std::string path, method;
  static const std::set<std::string> methods{"get", "put", "post", "patch", "delete", "head", "options"};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line == "paths:";
      continue;
    }
    if (!in_paths) continue;
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
      method.clear();
    } else if (line.size() > 5 && line.rfind("    ", 0) == 0 && line[4] != ' ' && line.back() == ':') {
      const std::string word = line.substr(4, line.size() - 5);
      method = methods.count(word) ? word : "";
      if (!method.empty()) out[{path, method}];
    } else if (!method.empty() && line.find("in: query") != std::string::npos) {
      const auto at = line.find("name: ");
      REQUIRE(at != std::string::npos);
      const auto end = line.find(',', at);
      out[{path, method}].insert(line.substr(at + 6, end - at - 6));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the OpenAPI document and the router agree, both ways") {
  const auto doc = documented(SIPVSD_OPENAPI);
  REQUIRE(doc.size() >= 18);

  const DaemonConfig c = test::sip_config();
  sipvs::Engine engine(c.engine);
  ControlPlane control(engine, c);
  Rates rates;
  const Router router = make_router(control, rates, {}, "");
  std::map<RouteKey, std::set<std::string>> served;
  for (const Route& r : router.routes()) {
    std::string method(http::to_string(r.method));
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    served[{r.pattern, method}] = std::set<std::string>(r.query_names.begin(), r.query_names.end());
  }

  for (const auto& [key, query] : doc) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    REQUIRE_MESSAGE(served.count(key), "documented but not served");
    CHECK(served[key] == query);
  }
  for (const auto& [key, query] : served) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    CHECK_MESSAGE(doc.count(key), "served but not documented");
  }
}
