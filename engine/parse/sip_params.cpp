#include "engine/parse/sip_params.hpp"

#include <algorithm>

#include "engine/parse/sip_text.hpp"

namespace sipvs {
namespace {

using sip_text::iequal;
using sip_text::trim;

// What follows "sip:" or "sips:", or empty for another scheme.
std::string_view after_scheme(std::string_view uri) {
  uri = trim(uri);
  for (std::string_view scheme : {std::string_view("sip:"), std::string_view("sips:")})
    if (uri.size() > scheme.size() && iequal(uri.substr(0, scheme.size()), scheme)) return uri.substr(scheme.size());
  return {};
}

}  // namespace

std::string_view first_header_value(std::string_view value) {
  bool quoted = false, angled = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;  // quoted-pair
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      angled = true;
    } else if (c == '>') {
      angled = false;
    } else if (c == ',' && !angled) {
      return trim(value.substr(0, i));
    }
  }
  return trim(value);
}

std::string_view name_addr_uri(std::string_view value) {
  value = trim(value);
  // A display name may be quoted and hold '<': the URI's '<' is the first outside quotes.
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      const std::size_t end = value.find('>', i + 1);
      return end == std::string_view::npos ? std::string_view{} : value.substr(i + 1, end - i - 1);
    }
  }
  // addr-spec: its parameters are the header's (RFC 3261 §20), not the URI's.
  return value.substr(0, value.find(';'));
}

std::string_view uri_user(std::string_view uri) {
  std::string_view rest = after_scheme(uri);
  rest = rest.substr(0, rest.find('?'));
  const std::size_t at = rest.rfind('@');
  if (at == std::string_view::npos) return {};
  return rest.substr(0, std::min(at, rest.find(':')));
}

std::string_view uri_params(std::string_view uri) {
  std::string_view rest = after_scheme(uri);
  rest = rest.substr(0, rest.find('?'));
  // The user part may hold ';' (tel-style users); the host part starts after '@'.
  const std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  const std::size_t semi = rest.find(';');
  return semi == std::string_view::npos ? std::string_view{} : rest.substr(semi);
}

std::string_view via_params(std::string_view via) {
  const std::size_t semi = via.find(';');
  return semi == std::string_view::npos ? std::string_view{} : via.substr(semi);
}

std::optional<std::string_view> find_param(std::string_view params, std::string_view name) {
  while (!params.empty()) {
    const std::size_t semi = params.find(';');
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
    const std::string_view param = params.substr(0, params.find(';'));
    const std::size_t eq = param.find('=');
    if (iequal(trim(param.substr(0, eq)), name))
      return eq == std::string_view::npos ? std::string_view{} : trim(param.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace sipvs
