#pragma once
// Finding one header's value in a SIP message (RFC 3261 §7): the start line
// must be a SIP request or status line; only the header section (up to the
// empty line) is searched; names are case-insensitive, in long or compact
// form; folded continuation lines are joined with a single SP.
#include <array>
#include <cstdint>
#include <string_view>

namespace sipvs {

enum class SipStatus : uint8_t {
  found,        // `value` holds the trimmed header value
  not_sip,      // the first line is neither a request line nor a status line
  absent,       // no such header in the header section
  empty,        // the header is there with an empty value
  too_long,     // the value is longer than kMaxSipValue bytes
  conflicting,  // the header appears more than once with different values
};

std::string_view to_string(SipStatus s);

inline constexpr std::size_t kMaxSipValue = 255;

// RFC 3261 §25.1 token characters (methods, header names). A table: the
// per-packet parser pays one load per character instead of range compares.
inline constexpr std::array<bool, 256> kSipTokenChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  for (const char c : std::string_view("-.!%*_+`'~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

constexpr bool is_sip_token_char(char c) { return kSipTokenChar[static_cast<unsigned char>(c)]; }

struct SipHeaderName {
  std::string_view long_form;  // e.g. "Call-ID"
  char compact = 0;            // e.g. 'i'; 0 when the header has no compact form
};

inline constexpr SipHeaderName kCallId{"Call-ID", 'i'};

// Where a folded value is joined. A value that is not folded is returned as a
// view into the message itself; a folded one is joined into this buffer.
using SipScratch = std::array<char, kMaxSipValue>;

SipStatus find_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                          std::string_view& value);

// The first value of a header that may appear more than once (Via, Route):
// the first occurrence's whole line, which may hold several comma-separated
// values; no comparison with later ones.
SipStatus find_first_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                                std::string_view& value);

// The Request-URI of a request; empty for a response or what is not SIP.
std::string_view sip_request_uri(std::string_view message);

// Whether the message starts with a SIP status line.
bool is_sip_response(std::string_view message);

inline SipStatus find_call_id(std::string_view message, SipScratch& scratch, std::string_view& value) {
  return find_sip_header(message, kCallId, scratch, value);
}

}  // namespace sipvs
