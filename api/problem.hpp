#pragma once
// Errors as RFC 7807 problem details (application/problem+json): every
// failed request gets a body that says what went wrong and, for a bad or
// conflicting field, which one ("field", a path like "servers[0].mark").
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace sipvsd::api {

namespace http = boost::beast::http;
using Response = http::response<http::string_body>;

class ApiError : public std::runtime_error {
 public:
  ApiError(http::status status, std::string detail, std::optional<std::string> field = std::nullopt);
  http::status status() const { return status_; }
  const std::string& detail() const { return detail_; }
  const std::optional<std::string>& field() const { return field_; }

  // A bad field in the request; `field` names it.
  static ApiError bad_field(std::string field, std::string reason);
  static ApiError not_found(std::string what);

 private:
  http::status status_;
  std::string detail_;
  std::optional<std::string> field_;
};

// The problem+json response for `error` (HTTP/1.1, no Connection header yet).
Response problem_response(const ApiError& error);

}  // namespace sipvsd::api
