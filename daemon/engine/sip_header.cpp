#include "sip_header.hpp"

#include <cstring>

// This runs once per packet, so it never allocates and copies only a value
// that is folded (RFC 3261 §7.3.1) into `scratch`. Lines are found with
// memchr; a header line is compared to the wanted name only when its first
// character could start it. NUL bytes are ordinary bytes here: nothing
// relies on terminators.

namespace sipvs {
namespace {

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 3261 §25.1 token characters.
constexpr bool is_token_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-.!%*_+`'~").find(static_cast<char>(c)) != std::string_view::npos;
}

struct Line {
  std::string_view text;  // without its line end (LF or CRLF)
  std::size_t next;       // where the following line starts
};

Line line_at(std::string_view m, std::size_t pos) {
  const char* b = m.data() + pos;
  const std::size_t left = m.size() - pos;
  const void* lf = std::memchr(b, '\n', left);
  std::size_t len = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - b) : left;
  const std::size_t next = lf ? pos + len + 1 : m.size();
  if (len && b[len - 1] == '\r') --len;
  return {{b, len}, next};
}

constexpr std::string_view kVersion = "SIP/2.0";

// Status-Line = SIP-Version SP 3DIGIT SP Reason-Phrase. A missing SP after
// the code is tolerated (RFC 4475 notes liberal receivers accept it).
bool is_status_line(std::string_view l) {
  if (l.size() < 11 || !iequal(l.substr(0, 7), kVersion) || l[7] != ' ') return false;
  for (std::size_t i = 8; i < 11; ++i)
    if (l[i] < '0' || l[i] > '9') return false;
  return l.size() == 11 || l[11] == ' ';
}

// Request-Line = Method SP Request-URI SP SIP-Version. The URI is only
// checked to be non-empty and free of SP and control characters.
bool is_request_line(std::string_view l) {
  std::size_t i = 0;
  while (i < l.size() && is_token_char(static_cast<unsigned char>(l[i]))) ++i;
  if (i == 0 || i == l.size() || l[i] != ' ') return false;
  const std::size_t uri = ++i;
  while (i < l.size() && static_cast<unsigned char>(l[i]) > ' ' && l[i] != '\x7f') ++i;
  if (i == uri || i == l.size() || l[i] != ' ') return false;
  return iequal(l.substr(i + 1), kVersion);
}

// Recognises a header line of the wanted name; the lowered first characters
// are kept so most lines are rejected by one comparison.
class NameMatcher {
 public:
  explicit NameMatcher(SipHeaderName n)
      : name_(n), first_(n.long_form.empty() ? '\0' : lower(n.long_form[0])), compact_(lower(n.compact)) {}

  // Where the value starts (just after the colon), or npos.
  std::size_t value_start(std::string_view line) const {
    const char c = lower(line[0]);
    std::size_t at = std::string_view::npos;
    if (c == first_ && line.size() > name_.long_form.size() &&
        iequal(line.substr(0, name_.long_form.size()), name_.long_form))
      at = colon_after(line, name_.long_form.size());
    // Tried even when the long form began the same way ("s" vs "Subject").
    if (at == std::string_view::npos && c == compact_ && compact_ != '\0') at = colon_after(line, 1);
    return at;
  }

 private:
  static std::size_t colon_after(std::string_view line, std::size_t i) {
    while (i < line.size() && is_wsp(line[i])) ++i;
    return i < line.size() && line[i] == ':' ? i + 1 : std::string_view::npos;
  }

  SipHeaderName name_;
  char first_;
  char compact_;
};

struct Value {
  SipStatus status;
  std::string_view text;
  std::size_t next;  // the line after the header's last continuation line
};

// Reads one header value: `first` is the rest of its header line after the
// colon, continuation lines follow at `next`. Per §7.3.1 each folding LWS
// becomes one SP, so the trimmed non-empty pieces are joined with SP. While
// there is one piece it is a view into the message; from the second on the
// pieces are copied into `scratch`.
Value read_value(std::string_view m, std::string_view first, std::size_t next, SipScratch& scratch) {
  std::string_view text;
  std::size_t joined = 0;  // bytes in scratch; 0 while `text` is a view
  bool too_long = false;
  auto add = [&](std::string_view piece) {
    piece = trim(piece);
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
  add(first);
  while (next < m.size() && is_wsp(m[next])) {
    const Line cont = line_at(m, next);
    add(cont.text);
    next = cont.next;
  }
  if (too_long) return {SipStatus::too_long, {}, next};
  return {text.empty() ? SipStatus::empty : SipStatus::found, text, next};
}

}  // namespace

SipStatus find_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                          std::string_view& value) {
  value = {};
  if (message.empty()) return SipStatus::not_sip;
  const Line start = line_at(message, 0);
  if (!is_status_line(start.text) && !is_request_line(start.text)) return SipStatus::not_sip;

  const NameMatcher matcher(name);
  SipScratch other;  // a repeated folded value is joined here to compare it
  bool seen = false;
  Value first{SipStatus::absent, {}, 0};
  for (std::size_t pos = start.next; pos < message.size();) {
    const Line line = line_at(message, pos);
    if (line.text.empty()) break;  // the empty line ends the header section
    // A line starting with whitespace continues some other header.
    const std::size_t at = is_wsp(line.text[0]) ? std::string_view::npos : matcher.value_start(line.text);
    if (at == std::string_view::npos) {
      pos = line.next;
      continue;
    }
    const Value v = read_value(message, line.text.substr(at), line.next, seen ? other : scratch);
    // An over-long value is unusable whatever else the message says.
    if (v.status == SipStatus::too_long) return SipStatus::too_long;
    if (!seen) {
      seen = true;
      first = v;
    } else if (v.status != first.status || v.text != first.text) {
      return SipStatus::conflicting;
    }
    pos = v.next;
  }
  if (first.status == SipStatus::found) value = first.text;
  return first.status;
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
