#include "api/problem.hpp"

#include <nlohmann/json.hpp>

namespace sipvsd::api {

ApiError::ApiError(http::status status, std::string detail, std::optional<std::string> field)
    : std::runtime_error(detail), status_(status), detail_(std::move(detail)), field_(std::move(field)) {}

ApiError ApiError::bad_field(std::string field, std::string reason) {
  return ApiError(http::status::bad_request, std::move(reason), std::move(field));
}

ApiError ApiError::not_found(std::string what) { return ApiError(http::status::not_found, std::move(what)); }

Response problem_response(const ApiError& error) {
  nlohmann::json body{{"type", "about:blank"},
                      {"title", std::string(http::obsolete_reason(error.status()))},
                      {"status", static_cast<unsigned>(error.status())},
                      {"detail", error.detail()}};
  if (error.field()) body["field"] = *error.field();
  Response res{error.status(), 11};
  res.set(http::field::content_type, "application/problem+json");
  // Details quote what the client sent, which need not be valid UTF-8.
  res.body() = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  res.prepare_payload();
  return res;
}

}  // namespace sipvsd::api
