// libFuzzer target for the per-packet parsers: parse_packet on the raw bytes
// (then the Call-ID of a UDP payload), and find_sip_header on the same bytes
// taken as text. Invariants are checked with __builtin_trap so they hold in
// any build; ASan/UBSan catch out-of-bounds reads and undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/parse/packet_view.hpp"
#include "engine/parse/sip_header.hpp"

namespace {

bool inside(std::string_view part, const char* begin, std::size_t size) {
  const auto b = reinterpret_cast<std::uintptr_t>(begin);
  const auto p = reinterpret_cast<std::uintptr_t>(part.data());
  return p >= b && p - b <= size && part.size() <= size - (p - b);
}

void check_header(std::string_view message, sipvs::SipHeaderName name) {
  sipvs::SipScratch scratch;
  std::string_view value;
  const sipvs::SipStatus status = sipvs::find_sip_header(message, name, scratch, value);
  if (status != sipvs::SipStatus::found) {
    if (!value.empty()) __builtin_trap();
    return;
  }
  if (value.empty() || value.size() > sipvs::kMaxSipValue) __builtin_trap();
  auto wsp = [](char c) { return c == ' ' || c == '\t'; };
  if (wsp(value.front()) || wsp(value.back())) __builtin_trap();
  // Values never span a line end: folding is replaced by SP.
  if (value.find('\n') != std::string_view::npos) __builtin_trap();
  if (!inside(value, scratch.data(), scratch.size()) && !inside(value, message.data(), message.size()))
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  sipvs::PacketView packet;
  if (sipvs::parse_packet(std::span<const uint8_t>(data, size), packet) == sipvs::PacketStatus::ok) {
    if (!inside(packet.payload, text.data(), text.size())) __builtin_trap();
    if (packet.protocol != 17) __builtin_trap();
    check_header(packet.payload, sipvs::kCallId);
  }

  check_header(text, sipvs::kCallId);
  check_header(text, {"X-Session-ID", 0});
  return 0;
}
