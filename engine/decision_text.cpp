#include "engine/decision_text.hpp"

#include <algorithm>
#include <cstdio>

namespace sipvs {

namespace {

// Spaces only where the caller says (they separate the line's fields).
void append_printable(std::string& out, std::string_view bytes, bool keep_spaces = false) {
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += (c > 0x20 && c < 0x7f) || (keep_spaces && c == ' ') ? ch : '.';
  }
}

void append_endpoint(std::string& out, const IpAddress& a, uint16_t port, bool with_port) {
  out += a.family == IpAddress::Family::none ? "?" : with_port ? a.to_string(port) : a.to_string();
}

// "INVITE" or "SIP/2.0 200": what the SIP message is.
void append_first_words(std::string& out, std::string_view payload) {
  const std::string_view line = payload.substr(0, std::min(payload.find_first_of("\r\n"), std::size_t{64}));
  std::size_t sp = line.find(' ');
  if (line.starts_with("SIP/") && sp != std::string_view::npos) sp = line.find(' ', sp + 1);
  const std::string_view words = line.substr(0, sp);
  if (words.empty()) out += '-';
  append_printable(out, words, true);
}

// What became of the call's template.
std::string_view template_word(const Decision& d) {
  if (d.template_hit) return "hit";
  if (d.template_created) return "new";
  if (d.template_moved) return "moved";
  return "none";
}

std::string& append_server(std::string& out, const Decision& d) {
  out += " service=" + d.service->name + " server=";
  append_endpoint(out, d.server->address, d.server->port, d.server->port != 0);
  return out;
}

}  // namespace

std::string describe(const Decision& d) {
  const PacketView& p = d.packet;
  const bool readable = d.packet_status == PacketStatus::ok;
  std::string out;
  append_endpoint(out, p.src, p.sport, readable);
  out += " -> ";
  append_endpoint(out, p.dst, p.dport, readable);
  out += ' ';
  if (d.outcome == Outcome::bad_packet || !readable) {
    out += "packet=";
    out += to_string(d.packet_status);
  } else {
    append_first_words(out, p.payload);
    if (d.pe_used) {
      out += " call-id=";
      append_printable(out, d.pe_data);
    } else if (d.service && !d.service->pe.empty()) {
      out += " fallback=";
      out += to_string(d.pe_status);
    }
    if (!d.tag.empty()) {
      out += d.tagged ? " tag=" : " unknown-tag=";
      append_printable(out, d.tag);
    }
  }
  if (d.outcome == Outcome::learned) {
    // The server that sent it; the packet itself leaves unmarked.
    out += " outcome=learned template=";
    out += template_word(d);
    return append_server(out, d);
  }
  if (d.outcome != Outcome::placed) {
    out += " outcome=";
    out += to_string(d.outcome);
    if (d.servers_full) out += " servers=full";  // each at its max_calls
    if (d.service) out += " service=" + d.service->name;
    return out;
  }
  out += " template=";
  out += template_word(d);
  append_server(out, d);
  char mark[16];
  std::snprintf(mark, sizeof mark, " mark=0x%x", d.mark);
  return out += mark;
}

}  // namespace sipvs
