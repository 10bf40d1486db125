#include "engine/pe/persistence_engine.hpp"

namespace sipvs {

std::string_view to_string(PeStatus s) {
  switch (s) {
    case PeStatus::matched: return "matched";
    case PeStatus::wrong_protocol: return "wrong_protocol";
    case PeStatus::absent: return "absent";
    case PeStatus::empty: return "empty";
    case PeStatus::too_long: return "too_long";
    case PeStatus::conflicting: return "conflicting";
  }
  return "unknown";
}

PeStatus pe_status_from(SipStatus s) {
  switch (s) {
    case SipStatus::found: return PeStatus::matched;
    case SipStatus::not_sip: return PeStatus::wrong_protocol;
    case SipStatus::absent: return PeStatus::absent;
    case SipStatus::empty: return PeStatus::empty;
    case SipStatus::too_long: return PeStatus::too_long;
    case SipStatus::conflicting: return PeStatus::conflicting;
  }
  return PeStatus::wrong_protocol;
}

// pe data comes off the wire: listings show it as printable ASCII, every
// other byte as \xNN. A backslash is doubled so the rendering stays
// unambiguous (a literal "\x00" in a Call-ID is not a NUL byte).
std::string PersistenceEngine::show_pe_data(std::string_view pe_data) const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(pe_data.size());
  for (const char ch : pe_data) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace sipvs
