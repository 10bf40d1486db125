#pragma once
// The optional bearer token: read from a file that only its owner may read,
// compared in constant time.
#include <string>
#include <string_view>

namespace sipvsd::api {

// The file's first line, without surrounding whitespace. Throws
// std::runtime_error if the file cannot be read, is empty, or is readable
// or writable by group or others (it must be 0600 or stricter).
std::string load_token(const std::string& path);

// Whether an Authorization header value is "Bearer <token>".
bool authorized(std::string_view authorization, std::string_view token);

}  // namespace sipvsd::api
