#pragma once
// Maps a request to its handler by method and path pattern ("/v1/services/{id}"),
// after the checks every route shares: bearer token, known query parameters,
// JSON content type on bodies. Handlers throw ApiError (or the control
// plane's errors) and the router turns them into problem responses, so a
// handler is only its happy path. handle() never throws.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include "api/problem.hpp"

namespace sipvsd::api {

using Request = http::request<http::string_body>;

class RequestContext {
 public:
  const Request& request;
  std::map<std::string, std::string, std::less<>> params;  // path captures, percent-decoded
  std::map<std::string, std::string, std::less<>> query;   // percent-decoded; each name at most once

  const std::string& param(std::string_view name) const;
  std::optional<std::string> query_value(std::string_view name) const;
  // The body as JSON; ApiError 400 for invalid JSON or duplicate keys.
  nlohmann::json json_body() const;
};

using Handler = std::function<Response(const RequestContext&)>;

struct Route {
  http::verb method;
  std::string pattern;                  // segments; "{name}" captures one
  std::vector<std::string> query_names;  // the query parameters it takes
  Handler handler;
};

class Router {
 public:
  // `token` empty: no authentication.
  explicit Router(std::string token = {});

  void add(http::verb method, std::string pattern, Handler handler, std::vector<std::string> query_names = {});
  const std::vector<Route>& routes() const { return routes_; }

  Response handle(const Request& request) const;

 private:
  Response dispatch(const Request& request) const;
  std::string token_;
  std::vector<Route> routes_;
};

// Responses of handlers.
Response json_response(http::status status, const nlohmann::json& body);
Response text_response(http::status status, std::string body, std::string_view content_type);
Response empty_response(http::status status);

// "%2F" -> "/"; in a query, "+" is a space. nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace sipvsd::api
