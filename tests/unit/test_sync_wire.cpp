// The sync wire format: what a writer fills, decode() reads back; every
// damaged, forged, foreign or malformed datagram is refused with its reason.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sync/wire.hpp"

using namespace sipvs;
using namespace sipvs::sync;

namespace {

Key key_of(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

const Authenticator kAuth(key_of(7));

SyncRecord call(std::string call_id) {
  SyncRecord r;
  r.vip = *IpAddress::parse("198.18.2.100");
  r.vport = 5060;
  r.client = *IpAddress::parse("198.18.0.1");
  r.server = *IpAddress::parse("198.18.1.2");
  r.server_port = 5060;
  r.timeout = 300;
  r.pe_name = "sip";
  r.pe_data = std::move(call_id);
  return r;
}

Header header(uint64_t seq = 1) { return Header{MessageType::records, 3, 0xabcdef, 1'700'000'000'000'000'000, seq}; }

std::vector<uint8_t> datagram(const std::vector<SyncRecord>& records, const Authenticator& auth = kAuth) {
  DatagramWriter w(header());
  for (const SyncRecord& r : records) REQUIRE(w.add(r));
  const std::span<const uint8_t> d = w.seal(auth);
  return {d.begin(), d.end()};
}

// "" when taken, else the reason.
std::string refused(std::span<const uint8_t> d, uint16_t sync_id = 3) {
  Message m;
  DropReason reason{};
  return decode(d, kAuth, sync_id, m, reason) ? "" : std::string(to_string(reason));
}

// `d` with the byte at `at` set to `value`, signed again with the right key:
// only the structure checks stand between it and the decoder.
std::vector<uint8_t> resigned(std::vector<uint8_t> d, std::size_t at, uint8_t value) {
  d.resize(d.size() - kMacSize);
  d[at] = value;
  const Mac mac = kAuth.sign(d);
  d.insert(d.end(), mac.begin(), mac.end());
  return d;
}

}  // namespace

TEST_CASE("records round-trip: IPv4, IPv6, fwmark, erase, learned, binary pe data") {
  SyncRecord v6 = call("a84b4c76e66710@pc33");
  v6.vip = *IpAddress::parse("2001:2:0:2::100");
  v6.client = *IpAddress::parse("2001:2::");
  v6.server = *IpAddress::parse("2001:2:0:1::2");
  v6.learned = true;
  SyncRecord marked = call(std::string("bin\0\xff", 5));
  marked.vip = IpAddress{};
  marked.vport = 0;
  marked.fwmark = 7;
  marked.client_port = 5062;
  SyncRecord gone = call("gone");
  gone.op = RecordOp::erase;
  gone.timeout = 0;
  gone.server = IpAddress{};  // an erasure names no server
  gone.server_port = 0;
  SyncRecord plain = call("");
  plain.pe_name.clear();
  const std::vector<SyncRecord> records{call("call-1"), v6, marked, gone, plain};

  const std::vector<uint8_t> d = datagram(records);
  CHECK(d.size() == kHeaderSize + 5 * kRecordFixedSize + 6 + 19 + 5 + 4 + 4 * 3 + kMacSize);
  Message m;
  DropReason reason{};
  REQUIRE(decode(d, kAuth, 3, m, reason));
  CHECK(m.header.type == MessageType::records);
  CHECK(m.header.sync_id == 3);
  CHECK(m.header.sender == 0xabcdef);
  CHECK(m.header.epoch == 1'700'000'000'000'000'000);
  CHECK(m.header.seq == 1);
  CHECK(m.records == records);

  // A bulk resync's records: the same body, their own type.
  Header bulk = header(2);
  bulk.type = MessageType::bulk_records;
  DatagramWriter w(bulk);
  REQUIRE(w.add(records[0]));
  REQUIRE(decode(w.seal(kAuth), kAuth, 3, m, reason));
  CHECK(m.header.type == MessageType::bulk_records);
  CHECK(m.records == std::vector<SyncRecord>{records[0]});
}

TEST_CASE("a writer fills a datagram up to its capacity, then says so") {
  DatagramWriter w(header());
  std::size_t added = 0;
  const SyncRecord r = call(std::string(40, 'c'));
  while (w.add(r)) ++added;
  CHECK(added == (kMaxDatagram - kHeaderSize - kMacSize) / encoded_size(r));
  CHECK(w.seal(kAuth).size() <= kMaxDatagram);

  SyncRecord too_long = call(std::string(256, 'x'));
  CHECK(encoded_size(too_long) == 0);
  SyncRecord no_server = call("x");
  no_server.server = IpAddress{};
  CHECK(encoded_size(no_server) == 0);  // a set record names its server
  DatagramWriter v(header());
  CHECK_FALSE(v.add(too_long));
  CHECK(v.empty());
}

TEST_CASE("the other messages round-trip") {
  Alive a;
  a.config_digest.fill(0x5a);
  a.synced = true;
  a.templates = 1'000'000;
  Message m;
  DropReason reason{};
  REQUIRE(decode(encode_alive(header(9), a, kAuth), kAuth, 3, m, reason));
  CHECK(m.header.type == MessageType::alive);
  CHECK(m.header.seq == 9);
  CHECK(m.alive.config_digest == a.config_digest);
  CHECK(m.alive.synced);
  CHECK(m.alive.templates == 1'000'000);

  REQUIRE(decode(encode_resync_request(header(10), 42, kAuth), kAuth, 3, m, reason));
  CHECK(m.header.type == MessageType::resync_request);
  CHECK(m.node == 42);
  REQUIRE(decode(encode_resync_end(header(11), 42, 123456, kAuth), kAuth, 3, m, reason));
  CHECK(m.header.type == MessageType::resync_end);
  CHECK(m.node == 42);
  CHECK(m.sent == 123456);
}

namespace {

ServerIdentity by_vip(const char* server) {
  ServerIdentity id;
  id.protocol = 17;
  id.vip = *IpAddress::parse("198.18.2.100");
  id.vport = 5060;
  id.server = *IpAddress::parse(server);
  id.port = 5060;
  return id;
}

}  // namespace

TEST_CASE("an alive lists the servers its sender sees down: IPv4, IPv6, fwmark") {
  ServerIdentity v6 = by_vip("2001:2:0:1::2");
  v6.vip = *IpAddress::parse("2001:2:0:2::100");
  ServerIdentity marked = by_vip("198.18.1.3");
  marked.protocol = 0;
  marked.vip = IpAddress{};
  marked.vport = 0;
  marked.fwmark = 7;
  marked.port = 0;
  Alive a;
  a.synced = true;
  a.down = {by_vip("198.18.1.2"), v6, marked};
  const std::vector<uint8_t> d = encode_alive(header(4), a, kAuth);
  CHECK(d.size() == kHeaderSize + kAliveFixedSize + 3 * kDownServerSize + kMacSize);
  CHECK(d[33] == 3);  // the count
  Message m;
  DropReason reason{};
  REQUIRE(decode(d, kAuth, 3, m, reason));
  CHECK(m.alive == a);
}

TEST_CASE("an alive lists as many down servers as fit in a datagram, and says the list is incomplete") {
  CHECK(kMaxDownServers == 30);
  Alive a;
  for (int i = 0; i <= static_cast<int>(kMaxDownServers); ++i)
    a.down.push_back(by_vip(("198.18.1." + std::to_string(i + 1)).c_str()));
  const std::vector<uint8_t> d = encode_alive(header(), a, kAuth);
  CHECK(d.size() <= kMaxDatagram);
  Message m;
  DropReason reason{};
  REQUIRE(decode(d, kAuth, 3, m, reason));
  CHECK(m.alive.down_incomplete);
  CHECK(m.alive.down == std::vector<ServerIdentity>(a.down.begin(), a.down.end() - 1));
  // A receiver takes what a jumbo frame holds; the flag travels as it is.
  a.down_incomplete = true;
  REQUIRE(decode(encode_alive(header(), a, kAuth, kMaxReceived), kAuth, 3, m, reason));
  CHECK(m.alive == a);
}

TEST_CASE("what is refused, and why") {
  const std::vector<uint8_t> good = datagram({call("c1"), call("c2")});
  REQUIRE(refused(good) == "");
  CHECK(refused(good, 4) == "wrong_sync_id");
  CHECK(refused(datagram({call("c1")}, Authenticator(key_of(8)))) == "bad_mac");

  std::vector<uint8_t> d = good;
  d.pop_back();
  CHECK(refused(d) == "truncated");
  CHECK(refused(std::span(good).first(kHeaderSize + kMacSize - 1)) == "truncated");
  d = good;
  d.push_back(0);
  CHECK(refused(d) == "oversized");
  CHECK(refused(std::vector<uint8_t>(kMaxReceived + 1)) == "oversized");
  d = good;
  d[0] = 'X';
  CHECK(refused(d) == "bad_magic");
  d = good;
  d[4] = 2;
  CHECK(refused(d) == "bad_version");
  // Any changed byte of header, body or MAC breaks the MAC.
  for (std::size_t i = 5; i < good.size(); ++i) {
    if (i == 34 || i == 35) continue;  // the body length: truncated or oversized first
    d = good;
    d[i] ^= 0x01;
    CAPTURE(i);
    CHECK(refused(d) == "bad_mac");
  }
}

TEST_CASE("authentic but malformed: refused whole, nothing half-read") {
  const std::vector<uint8_t> good = datagram({call("c1")});
  const std::size_t rec = kHeaderSize;
  CHECK(refused(resigned(good, 5, 9)) == "malformed");            // unknown type
  CHECK(refused(resigned(good, 33, 0)) == "malformed");           // count 0
  CHECK(refused(resigned(good, 33, 2)) == "malformed");           // count beyond the body
  CHECK(refused(resigned(good, 31, 0)) == "malformed");           // sequence number 0
  CHECK(refused(resigned(good, rec + 0, 3)) == "malformed");      // op
  CHECK(refused(resigned(good, rec + 1, 2)) == "malformed");      // flags
  CHECK(refused(resigned(good, rec + 3, 0x54)) == "malformed");   // vip family 5
  CHECK(refused(resigned(good, rec + 3, 0x40)) == "malformed");   // no client family
  CHECK(refused(resigned(good, rec + 4, 0)) == "malformed");      // no server family
  CHECK(refused(resigned(good, rec + 5, 40)) == "malformed");     // pe name past the end
  CHECK(refused(resigned(good, rec + 7, 1)) == "malformed");      // reserved
  CHECK(refused(resigned(good, rec + 17, 7)) == "malformed");     // a fwmark besides the VIP
  CHECK(refused(resigned(good, rec + 0, 2)) == "malformed");      // erase with time left
  CHECK(refused(resigned(resigned(good, rec + 20, 0), rec + 21, 0)) == "malformed");  // set without
  CHECK(refused(resigned(good, rec + 22 + 5, 1)) == "malformed"); // IPv4 with bytes past 4
  CHECK(refused(resigned(good, rec + 70, ' ')) == "malformed");   // pe name not a token
  // A family code that is neither 0, 4 nor 6 is refused even over a zero slot:
  // taken as "no VIP", it would pass as a service by VIP that names none.
  SyncRecord by_mark = call("c2");
  by_mark.vip = IpAddress{};
  by_mark.vport = 0;
  by_mark.fwmark = 7;
  const std::vector<uint8_t> marked = datagram({by_mark});
  REQUIRE(refused(marked) == "");
  CHECK(refused(resigned(resigned(resigned(marked, rec + 3, 0x24), rec + 17, 0), rec + 9, 1)) == "malformed");
  CHECK(refused(resigned(marked, rec + 4, 2)) == "malformed");  // server family 2
  // An IPv6 VIP slot may use every byte.
  CHECK(refused(resigned(resigned(good, rec + 3, 0x64), rec + 22 + 5, 1)) == "");
}

TEST_CASE("an alive with a malformed down server is refused whole") {
  Alive a;
  a.down = {by_vip("198.18.1.2")};
  const std::vector<uint8_t> good = encode_alive(header(), a, kAuth);
  REQUIRE(refused(good) == "");
  const std::size_t e = kHeaderSize + kAliveFixedSize;
  CHECK(refused(resigned(good, 33, 2)) == "malformed");            // count beyond the body
  CHECK(refused(resigned(good, 33, 0)) == "malformed");            // count short of it
  CHECK(refused(resigned(good, kHeaderSize + 32, 4)) == "malformed");  // unknown flag
  CHECK(refused(resigned(good, e + 1, 0x54)) == "malformed");      // VIP family 5
  CHECK(refused(resigned(good, e + 1, 0x42)) == "malformed");      // server family 2
  CHECK(refused(resigned(good, e + 1, 0x40)) == "malformed");      // no server family
  CHECK(refused(resigned(good, e + 3, 1)) == "malformed");         // reserved
  CHECK(refused(resigned(good, e + 12 + 4, 1)) == "malformed");    // IPv4 VIP with bytes past 4
  CHECK(refused(resigned(good, e + 28 + 15, 1)) == "malformed");   // IPv4 server with bytes past 4
  CHECK(refused(resigned(good, e + 0, 0)) == "malformed");         // a VIP without a protocol
  CHECK(refused(resigned(resigned(good, e + 4, 0), e + 5, 0)) == "malformed");  // a VIP without a port
  CHECK(refused(resigned(resigned(good, e + 6, 0), e + 7, 0)) == "malformed");  // a server without one
  CHECK(refused(resigned(good, e + 11, 7)) == "malformed");        // a fwmark besides the VIP
  // By fwmark: no protocol, VIP or port; a family code other than 0, 4, 6
  // is refused even over a zero slot.
  ServerIdentity marked = by_vip("198.18.1.3");
  marked.protocol = 0;
  marked.vip = IpAddress{};
  marked.vport = 0;
  marked.fwmark = 7;
  a.down = {marked};
  const std::vector<uint8_t> by_mark = encode_alive(header(), a, kAuth);
  REQUIRE(refused(by_mark) == "");
  CHECK(refused(resigned(by_mark, e + 0, 17)) == "malformed");     // a protocol
  CHECK(refused(resigned(by_mark, e + 5, 1)) == "malformed");      // a VIP port
  CHECK(refused(resigned(by_mark, e + 1, 0x24)) == "malformed");   // VIP family 2 over a zero slot
  CHECK(refused(resigned(by_mark, e + 12, 1)) == "malformed");     // no VIP family, a VIP byte
  CHECK(refused(resigned(by_mark, e + 11, 0)) == "malformed");     // neither VIP nor fwmark
  // An IPv6 server slot may use every byte.
  CHECK(refused(resigned(resigned(good, e + 1, 0x46), e + 28 + 15, 1)) == "");
}

TEST_CASE("a datagram is bound to its destination: sealed for one, refused at another") {
  const std::array<uint8_t, 19> to_b{4, 198, 18, 1, 252, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x90};
  std::array<uint8_t, 19> to_c = to_b;
  to_c[4] = 253;
  const Authenticator for_b = kAuth.for_channel(to_b), for_c = kAuth.for_channel(to_c);
  const std::vector<uint8_t> d = encode_alive(header(), Alive{}, for_b);
  Message m;
  DropReason reason{};
  CHECK(decode(d, for_b, 3, m, reason));
  CHECK_FALSE(decode(d, for_c, 3, m, reason));
  CHECK(reason == DropReason::bad_mac);
  CHECK_FALSE(decode(d, kAuth, 3, m, reason));  // nor under the shared key itself
  CHECK(reason == DropReason::bad_mac);
}
