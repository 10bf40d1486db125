#include "engine/parse/sip_header.hpp"

#include <array>
#include <cstring>
#include <optional>

#include "engine/parse/sip_text.hpp"

// This runs once per packet: it never allocates, and copies only a value
// that is folded (RFC 3261 §7.3.1) into `scratch`. Per header line the cost
// is one memchr for its end and one look at its first character; only lines
// whose first character could start the wanted name are compared further.
// NUL bytes are ordinary bytes here: nothing relies on terminators.

namespace sipvs {
namespace {

using sip_text::iequal_prefix;
using sip_text::is_wsp;
using sip_text::lower;
using sip_text::trim;

// A line of the message: [begin, end) without its LF or CRLF; `next` is
// where the following line starts (the message end after the last line).
struct Line {
  const char* begin;
  const char* end;
  const char* next;
};

Line line_at(const char* p, const char* msg_end) {
  const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(msg_end - p)));
  const char* end = lf ? lf : msg_end;
  if (end > p && end[-1] == '\r') --end;
  return {p, end, lf ? lf + 1 : msg_end};
}

constexpr std::string_view kVersion = "SIP/2.0";

// Status-Line = SIP-Version SP 3DIGIT SP Reason-Phrase. A missing SP after
// the code is tolerated (RFC 4475 notes liberal receivers accept it).
bool is_status_line(std::string_view l) {
  if (l.size() < 11 || !iequal_prefix(l.data(), kVersion) || l[7] != ' ') return false;
  for (std::size_t i = 8; i < 11; ++i)
    if (l[i] < '0' || l[i] > '9') return false;
  return l.size() == 11 || l[11] == ' ';
}

// Request-Line = Method SP Request-URI SP SIP-Version. The URI is only
// checked to be non-empty and free of SP (one memchr, not a per-character
// grammar check): this tells SIP from other traffic, it does not validate.
bool is_request_line(std::string_view l) {
  std::size_t i = 0;
  while (i < l.size() && is_sip_token_char(l[i])) ++i;
  if (i == 0 || i == l.size() || l[i] != ' ') return false;
  // What follows the method: a non-empty URI, SP, the version.
  const std::size_t uri = i + 1;
  if (l.size() < uri + 2 + kVersion.size()) return false;
  const std::size_t version = l.size() - kVersion.size();
  if (l[version - 1] != ' ' || !iequal_prefix(l.data() + version, kVersion)) return false;
  return std::memchr(l.data() + uri, ' ', version - 1 - uri) == nullptr;
}

// Recognises a header line of the wanted name.
class NameMatcher {
 public:
  explicit NameMatcher(SipHeaderName n)
      : long_(n.long_form), first_(long_.empty() ? '\0' : lower(long_[0])), compact_(lower(n.compact)) {}

  // Cheap first filter: could a line starting with `c` be this header? A
  // line starting with whitespace continues another header, never starts one.
  bool may_start(char c) const {
    c = lower(c);
    return (c == first_ || c == compact_) && c != '\0' && !is_wsp(c);
  }

  // Where the value starts (just after the colon), or nullptr.
  const char* value_start(const Line& l) const {
    const std::size_t size = static_cast<std::size_t>(l.end - l.begin);
    const char c = lower(*l.begin);
    if (c == first_ && size > long_.size() && iequal_prefix(l.begin, long_))
      if (const char* v = colon_after(l.begin + long_.size(), l.end)) return v;
    // Tried even when the long form began the same way ("s" vs "Subject").
    if (c == compact_) return colon_after(l.begin + 1, l.end);
    return nullptr;
  }

 private:
  static const char* colon_after(const char* p, const char* end) {
    while (p < end && is_wsp(*p)) ++p;
    return p < end && *p == ':' ? p + 1 : nullptr;
  }

  std::string_view long_;
  char first_;
  char compact_;
};

struct Value {
  SipStatus status;
  std::string_view text;
  const char* next;  // the line after the header's last continuation line
};

// Reads one header value: [from, line.end) is the rest of its header line,
// continuation lines follow. Per §7.3.1 each folding LWS becomes one SP, so
// the trimmed non-empty pieces are joined with SP. While there is one piece
// it is a view into the message; from the second on they are copied into
// `scratch`.
Value read_value(const char* from, const Line& line, const char* msg_end, SipScratch& scratch) {
  std::string_view text;
  std::size_t joined = 0;  // bytes in scratch; 0 while `text` is a view
  bool too_long = false;
  auto add = [&](const char* b, const char* e) {
    const std::string_view piece = trim({b, static_cast<std::size_t>(e - b)});
    if (piece.empty() || too_long) return;
    if (text.empty()) {
      text = piece;
      too_long = piece.size() > kMaxSipValue;
      return;
    }
    if (joined == 0) {
      std::memcpy(scratch.data(), text.data(), text.size());
      joined = text.size();
    }
    if (joined + 1 + piece.size() > kMaxSipValue) {
      too_long = true;
      return;
    }
    scratch[joined++] = ' ';
    std::memcpy(scratch.data() + joined, piece.data(), piece.size());
    joined += piece.size();
    text = {scratch.data(), joined};
  };
  add(from, line.end);
  const char* next = line.next;
  while (next < msg_end && is_wsp(*next)) {
    const Line cont = line_at(next, msg_end);
    add(cont.begin, cont.end);
    next = cont.next;
  }
  if (too_long) return {SipStatus::too_long, {}, next};
  return {text.empty() ? SipStatus::empty : SipStatus::found, text, next};
}

// The start line, if it is a SIP request or status line.
std::optional<Line> sip_start_line(std::string_view message) {
  if (message.empty()) return std::nullopt;
  const Line start = line_at(message.data(), message.data() + message.size());
  const std::string_view text(start.begin, static_cast<std::size_t>(start.end - start.begin));
  if (!is_status_line(text) && !is_request_line(text)) return std::nullopt;
  return start;
}

// The header's value; with `first_only`, the first occurrence decides,
// otherwise every occurrence must agree.
SipStatus find_header(std::string_view message, SipHeaderName name, bool first_only, SipScratch& scratch,
                      std::string_view& value) {
  value = {};
  const std::optional<Line> start = sip_start_line(message);
  if (!start) return SipStatus::not_sip;
  const char* const msg_end = message.data() + message.size();
  const NameMatcher matcher(name);
  SipScratch other;  // a repeated folded value is joined here to compare it
  bool seen = false;
  Value first{SipStatus::absent, {}, nullptr};
  for (const char* p = start->next; p < msg_end;) {
    const Line line = line_at(p, msg_end);
    if (line.begin == line.end) break;  // the empty line ends the header section
    const char* at = matcher.may_start(*p) ? matcher.value_start(line) : nullptr;
    if (!at) {
      p = line.next;
      continue;
    }
    const Value v = read_value(at, line, msg_end, seen ? other : scratch);
    // An over-long value is unusable whatever else the message says.
    if (v.status == SipStatus::too_long) return SipStatus::too_long;
    if (!seen) {
      seen = true;
      first = v;
      if (first_only) break;
    } else if (v.status != first.status || v.text != first.text) {
      return SipStatus::conflicting;
    }
    p = v.next;
  }
  if (first.status == SipStatus::found) value = first.text;
  return first.status;
}

}  // namespace

SipStatus find_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                          std::string_view& value) {
  return find_header(message, name, false, scratch, value);
}

SipStatus find_first_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                                std::string_view& value) {
  return find_header(message, name, true, scratch, value);
}

std::string_view sip_request_uri(std::string_view message) {
  const std::optional<Line> start = sip_start_line(message);
  if (!start) return {};
  const std::string_view line(start->begin, static_cast<std::size_t>(start->end - start->begin));
  if (is_status_line(line)) return {};
  // is_request_line: "METHOD SP URI SP SIP/2.0", the URI free of SP.
  const std::size_t uri = line.find(' ') + 1;
  return line.substr(uri, line.size() - kVersion.size() - 1 - uri);
}

bool is_sip_response(std::string_view message) {
  const std::optional<Line> start = sip_start_line(message);
  return start && is_status_line({start->begin, static_cast<std::size_t>(start->end - start->begin)});
}

std::string_view to_string(SipStatus s) {
  switch (s) {
    case SipStatus::found: return "found";
    case SipStatus::not_sip: return "not_sip";
    case SipStatus::absent: return "absent";
    case SipStatus::empty: return "empty";
    case SipStatus::too_long: return "too_long";
    case SipStatus::conflicting: return "conflicting";
  }
  return "unknown";
}

}  // namespace sipvs
