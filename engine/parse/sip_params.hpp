#pragma once
// The pieces of SIP header values and URIs (RFC 3261 §19.1.1, §20) that a PE
// reads: a header's first value, the URI of a name-addr, a URI's user part
// and parameters, a Via's parameters, one parameter by name. Views into the
// text given; nothing is unescaped or validated beyond what finding needs.
#include <optional>
#include <string_view>

namespace sipvs {

// The first of a header's comma-separated values; commas inside quotes or
// <...> do not separate.
std::string_view first_header_value(std::string_view value);

// The URI of a name-addr or addr-spec: `"Bob" <sip:b@h;lr>;x=1` -> `sip:b@h;lr`.
std::string_view name_addr_uri(std::string_view value);

// The user part of a sip: or sips: URI (without a password); empty when none.
std::string_view uri_user(std::string_view uri);

// The parameters of a sip: or sips: URI, after its host and port and before
// its headers: `sip:b@h:5060;lr;x=1?h=v` -> `;lr;x=1`.
std::string_view uri_params(std::string_view uri);

// The parameters of one Via value, after its sent-by:
// `SIP/2.0/UDP h:5060;branch=z9hG4bK1` -> `;branch=z9hG4bK1`.
std::string_view via_params(std::string_view via);

// The value of parameter `name` (case-insensitive) in ";a=1;b" parameters:
// "" for a parameter without a value, nullopt when there is none.
std::optional<std::string_view> find_param(std::string_view params, std::string_view name);

}  // namespace sipvs
