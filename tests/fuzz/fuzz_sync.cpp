// libFuzzer target for the sync decoder (sync/wire.cpp), what a director
// reads from the network before anything else. The first input byte picks
// the mode: odd, the rest is decoded as it came (the MAC must stop it);
// even, the rest is signed with the key first, so that the fuzzer reaches
// the header and record checks behind the MAC. A datagram decode() takes
// must carry the right MAC, and encode back to one that decodes to the same
// message (an alive's down servers included).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sync/wire.hpp"

namespace {

using namespace sipvs::sync;

const Authenticator& auth() {
  static const Authenticator a([] {
    Key k;
    k.fill(0x42);
    return k;
  }());
  return a;
}

void check_round_trip(const Message& m) {
  std::vector<uint8_t> again;
  switch (m.header.type) {
    case MessageType::records:
    case MessageType::bulk_records: {
      DatagramWriter w(m.header, kMaxReceived);
      for (const SyncRecord& r : m.records)
        if (!w.add(r)) __builtin_trap();
      const std::span<const uint8_t> d = w.seal(auth());
      again.assign(d.begin(), d.end());
      break;
    }
    case MessageType::alive: again = encode_alive(m.header, m.alive, auth(), kMaxReceived); break;
    case MessageType::resync_request: again = encode_resync_request(m.header, m.node, auth()); break;
    case MessageType::resync_end: again = encode_resync_end(m.header, m.node, m.sent, auth()); break;
  }
  Message back;
  DropReason reason{};
  if (!decode(again, auth(), m.header.sync_id, back, reason)) __builtin_trap();
  if (back.header.type != m.header.type || back.records != m.records || back.header.seq != m.header.seq ||
      back.header.sender != m.header.sender || back.header.epoch != m.header.epoch || back.node != m.node ||
      back.sent != m.sent || back.alive != m.alive)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool sign = (data[0] & 1) == 0;
  std::vector<uint8_t> datagram(data + 1, data + size);
  if (sign && datagram.size() >= kMacSize) {
    const Mac mac = auth().sign(std::span(datagram).first(datagram.size() - kMacSize));
    std::copy(mac.begin(), mac.end(), datagram.end() - kMacSize);
  }
  const uint16_t sync_id = datagram.size() >= 8 ? static_cast<uint16_t>(datagram[6] << 8 | datagram[7]) : 0;
  Message m;
  DropReason reason{};
  if (decode(datagram, auth(), sync_id, m, reason)) {
    // Taken as it came: its MAC must be the right one (a seed's), never a forged one.
    const std::size_t signed_size = datagram.size() - kMacSize;
    const Mac expected = auth().sign(std::span(datagram).first(signed_size));
    if (!std::equal(expected.begin(), expected.end(), datagram.begin() + static_cast<std::ptrdiff_t>(signed_size)))
      __builtin_trap();
    check_round_trip(m);
  } else if (static_cast<std::size_t>(reason) >= kDropReasonCount) {
    __builtin_trap();
  }
  return 0;
}
