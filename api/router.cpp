#include "api/router.hpp"

#include <algorithm>
#include <cctype>
#include <system_error>

#include "api/auth.hpp"
#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_text.hpp"
#include "daemon/config/control_plane.hpp"
#include "daemon/log.hpp"

namespace sipvsd::api {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  // "/v1/services/" is "/v1/services": a trailing slash is forgiven.
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

bool is_capture(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Captures of `pattern` in `segments`, or nullopt if it does not match.
std::optional<std::map<std::string, std::string, std::less<>>> match(std::string_view pattern,
                                                                      const std::vector<std::string>& segments) {
  const auto parts = split_path(pattern);
  if (parts.size() != segments.size()) return std::nullopt;
  std::map<std::string, std::string, std::less<>> captures;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (is_capture(parts[i])) {
      if (segments[i].empty()) return std::nullopt;
      captures.emplace(std::string(parts[i].substr(1, parts[i].size() - 2)), segments[i]);
    } else if (parts[i] != segments[i]) {
      return std::nullopt;
    }
  }
  return captures;
}

bool body_method(http::verb m) { return m == http::verb::post || m == http::verb::put || m == http::verb::patch; }

// "application/json; charset=utf-8" -> "application/json"
std::string media_type(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

ApiError from_rejected(const ConfigFieldError& e) {
  const auto status = e.kind() == ConfigFieldError::Kind::invalid ? http::status::bad_request : http::status::conflict;
  return ApiError(status, e.reason(), e.field());
}

// The path's segments, percent-decoded.
std::vector<std::string> decoded_segments(std::string_view path) {
  std::vector<std::string> segments;
  for (std::string_view raw : split_path(path)) {
    auto decoded = percent_decode(raw, false);
    if (!decoded) throw ApiError(http::status::bad_request, "broken percent-escape in the path");
    segments.push_back(std::move(*decoded));
  }
  return segments;
}

// The route for the method at the path, if any, and the methods the path
// allows (empty: no resource there).
struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string, std::less<>> captures;
  std::string allow;
};

RouteMatch find_route(const std::vector<Route>& routes, http::verb method, const std::vector<std::string>& segments) {
  RouteMatch found;
  for (const Route& r : routes) {
    auto c = match(r.pattern, segments);
    if (!c) continue;
    if (r.method == method) {
      found.route = &r;
      found.captures = std::move(*c);
    }
    found.allow += (found.allow.empty() ? "" : ", ") + std::string(http::to_string(r.method));
  }
  return found;
}

// The query's parameters, percent-decoded; each one the route takes, at most once.
std::map<std::string, std::string, std::less<>> query_of(std::string_view q, const Route& route) {
  std::map<std::string, std::string, std::less<>> query;
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) throw ApiError::bad_field("query", "broken percent-escape");
    if (std::find(route.query_names.begin(), route.query_names.end(), *name) == route.query_names.end()) {
      std::string known;
      for (const auto& n : route.query_names) known += (known.empty() ? "" : ", ") + n;
      throw ApiError::bad_field("query." + *name,
                                "unknown query parameter" + (known.empty() ? " (this route takes none)" : " (known: " + known + ")"));
    }
    if (!query.emplace(std::move(*name), std::move(*value)).second)
      throw ApiError::bad_field("query." + std::string(pair.substr(0, eq)), "given twice");
  }
  return query;
}

// 415 for a body that is not JSON (or, for PATCH, a JSON merge patch).
std::optional<Response> refused_body_type(const Request& request) {
  if (!body_method(request.method())) return std::nullopt;
  const std::string type = media_type(request[http::field::content_type]);
  const bool merge_patch = request.method() == http::verb::patch && type == "application/merge-patch+json";
  if (type == "application/json" || merge_patch) return std::nullopt;
  Response res = problem_response(ApiError(
      http::status::unsupported_media_type,
      "the body must be JSON (Content-Type: application/json), not " + (type.empty() ? "untyped" : type)));
  if (request.method() == http::verb::patch) res.set(http::field::accept_patch, "application/json, application/merge-patch+json");
  return res;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

const std::string& RequestContext::param(std::string_view name) const {
  const auto it = params.find(name);
  if (it == params.end()) throw std::logic_error("route has no parameter " + std::string(name));
  return it->second;
}

std::optional<std::string> RequestContext::query_value(std::string_view name) const {
  const auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

nlohmann::json RequestContext::json_body() const {
  try {
    return parse_json_text(request.body());
  } catch (const JsonSyntaxError& e) {
    throw ApiError::bad_field("", "invalid JSON at line " + std::to_string(e.line()) + ", column " +
                                      std::to_string(e.column()) + ": " + e.reason());
  } catch (const ConfigFieldError& e) {
    throw ApiError::bad_field(e.field(), e.reason());
  }
}

Router::Router(std::string token) : token_(std::move(token)) {}

void Router::add(http::verb method, std::string pattern, Handler handler, std::vector<std::string> query_names) {
  routes_.push_back(Route{method, std::move(pattern), std::move(query_names), std::move(handler)});
}

Response Router::handle(const Request& request) const {
  try {
    return dispatch(request);
  } catch (const ApiError& e) {
    return problem_response(e);
  } catch (const ConfigFieldError& e) {
    return problem_response(from_rejected(e));
  } catch (const std::system_error& e) {
    // The state file could not be written; the change was not made.
    LOG_ERR("api: %s %s: %s", std::string(request.method_string()).c_str(), std::string(request.target()).c_str(),
            e.what());
    return problem_response(ApiError(http::status::internal_server_error, std::string("not changed: ") + e.what()));
  } catch (const std::exception& e) {
    LOG_ERR("api: %s %s: %s", std::string(request.method_string()).c_str(), std::string(request.target()).c_str(),
            e.what());
    return problem_response(ApiError(http::status::internal_server_error, e.what()));
  }
}

Response Router::dispatch(const Request& request) const {
  const std::string_view target = request.target();
  if (target.empty() || target.front() != '/')
    throw ApiError(http::status::bad_request, "the request target must be a path (origin-form)");
  const std::size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::vector<std::string> segments = decoded_segments(path);

  // Health checks by load balancers and supervisors carry no token.
  const bool public_route = segments.size() == 1 && segments[0] == "healthz";
  if (!token_.empty() && !public_route && !authorized(request[http::field::authorization], token_)) {
    Response res = problem_response(ApiError(http::status::unauthorized, "a valid bearer token is required"));
    res.set(http::field::www_authenticate, "Bearer realm=\"sipvsd\"");
    return res;
  }

  RouteMatch found = find_route(routes_, request.method(), segments);
  if (!found.route && found.allow.empty()) throw ApiError::not_found("no resource at " + std::string(path));
  if (!found.route) {
    Response res = problem_response(ApiError(http::status::method_not_allowed,
                                             std::string(request.method_string()) + " is not allowed on " +
                                                 std::string(path) + " (allowed: " + found.allow + ")"));
    res.set(http::field::allow, found.allow);
    return res;
  }

  RequestContext ctx{request, std::move(found.captures), {}};
  if (qmark != std::string_view::npos) ctx.query = query_of(target.substr(qmark + 1), *found.route);
  if (auto refused = refused_body_type(request)) return std::move(*refused);
  return found.route->handler(ctx);
}

Response json_response(http::status status, const nlohmann::json& body) {
  return text_response(status, body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                       "application/json");
}

Response text_response(http::status status, std::string body, std::string_view content_type) {
  Response res{status, 11};
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response empty_response(http::status status) {
  Response res{status, 11};
  res.prepare_payload();
  return res;
}

}  // namespace sipvsd::api
