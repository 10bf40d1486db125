#include "sync/wire.hpp"

#include <algorithm>
#include <cstring>

#include "engine/parse/sip_header.hpp"

namespace sipvs::sync {
namespace {

constexpr uint8_t kMagic[4] = {'S', 'V', 'S', 'Y'};
// An alive's flags: bit 0 synced, bit 1 its down list is incomplete.
constexpr uint8_t kSynced = 1, kDownIncomplete = 2;
constexpr std::size_t kResyncRequestBody = 8;
constexpr std::size_t kResyncEndBody = 16;

void put8(std::vector<uint8_t>& b, uint8_t v) { b.push_back(v); }
void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
void put_address(std::vector<uint8_t>& b, const IpAddress& a) { b.insert(b.end(), a.bytes.begin(), a.bytes.end()); }
void set16(std::vector<uint8_t>& b, std::size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// Reads big-endian fields; once a read runs past the end, every later one
// yields zeros and ok() is false.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  std::span<const uint8_t> bytes(std::size_t n) {
    if (!ok_ || b_.size() - at_ < n) {
      ok_ = false;
      return {};
    }
    const std::span<const uint8_t> s = b_.subspan(at_, n);
    at_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && at_ == b_.size(); }

 private:
  uint64_t take(std::size_t n) {
    const std::span<const uint8_t> s = bytes(n);
    uint64_t v = 0;
    for (const uint8_t c : s) v = v << 8 | c;
    return v;
  }
  std::span<const uint8_t> b_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

constexpr uint8_t family_code(IpAddress::Family f) { return static_cast<uint8_t>(f); }

// An address slot: the family's bytes, the rest of the 16 zero. Family 0 is
// "none"; any other code than 0, 4 or 6 is refused, so that what decodes
// encodes back the same.
bool read_address(Reader& r, uint8_t family, IpAddress& out) {
  const std::span<const uint8_t> b = r.bytes(16);
  if (!r.ok()) return false;
  const auto zero_from = [&](std::size_t at) {
    return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(at), b.end(), [](uint8_t c) { return c == 0; });
  };
  switch (family) {
    case family_code(IpAddress::Family::v4):
      out = IpAddress::v4(b.data());
      return zero_from(4);
    case family_code(IpAddress::Family::v6):
      out = IpAddress::v6(b.data());
      return true;
    case family_code(IpAddress::Family::none):
      out = IpAddress{};
      return zero_from(0);
    default:
      return false;
  }
}

bool is_pe_name(std::string_view s) { return std::ranges::all_of(s, is_sip_token_char); }

void put_header(std::vector<uint8_t>& b, const Header& h) {
  b.insert(b.end(), std::begin(kMagic), std::end(kMagic));
  put8(b, kVersion);
  put8(b, static_cast<uint8_t>(h.type));
  put16(b, h.sync_id);
  put64(b, h.sender);
  put64(b, h.epoch);
  put64(b, h.seq);
  put16(b, 0);  // count
  put16(b, 0);  // body length
}

// Body length and count into the header, the MAC after the body.
void finish(std::vector<uint8_t>& b, uint16_t count, const Authenticator& auth) {
  set16(b, 32, count);
  set16(b, 34, static_cast<uint16_t>(b.size() - kHeaderSize));
  const Mac mac = auth.sign(b);
  b.insert(b.end(), mac.begin(), mac.end());
}

bool read_record(Reader& r, SyncRecord& rec) {
  const uint8_t op = r.u8(), flags = r.u8();
  rec.protocol = r.u8();
  const uint8_t families = r.u8(), server_family = r.u8();
  const uint8_t pe_name_len = r.u8(), pe_data_len = r.u8(), reserved = r.u8();
  rec.vport = r.u16();
  rec.client_port = r.u16();
  rec.server_port = r.u16();
  rec.fwmark = r.u32();
  rec.timeout = r.u32();
  const uint8_t vip_family = families >> 4, client_family = families & 0xf;
  if (!read_address(r, vip_family, rec.vip) || !read_address(r, client_family, rec.client) ||
      !read_address(r, server_family, rec.server))
    return false;
  const std::span<const uint8_t> name = r.bytes(pe_name_len), data = r.bytes(pe_data_len);
  if (!r.ok()) return false;
  rec.pe_name.assign(name.begin(), name.end());
  rec.pe_data.assign(data.begin(), data.end());
  if (op != static_cast<uint8_t>(RecordOp::set) && op != static_cast<uint8_t>(RecordOp::erase)) return false;
  rec.op = static_cast<RecordOp>(op);
  rec.learned = flags & 1;
  // The service is a VIP and port or a fwmark, never both; the client has an
  // address, and so has the server of a set record (an erasure needs none);
  // a set record has time left, pe data has a PE.
  const bool by_vip = vip_family != 0;
  if ((flags & ~1u) != 0 || reserved != 0) return false;
  if (by_vip ? (rec.fwmark != 0 || rec.vport == 0) : (rec.fwmark == 0 || rec.vport != 0)) return false;
  if (client_family == 0 || (server_family == 0 && rec.op == RecordOp::set)) return false;
  if ((rec.op == RecordOp::set) != (rec.timeout != 0)) return false;
  if (pe_name_len > kMaxPeName || !is_pe_name(rec.pe_name) || (rec.pe_name.empty() && pe_data_len != 0)) return false;
  return true;
}

void put_down_server(std::vector<uint8_t>& b, const ServerIdentity& id) {
  put8(b, id.protocol);
  put8(b, static_cast<uint8_t>(family_code(id.vip.family) << 4 | family_code(id.server.family)));
  put16(b, 0);  // reserved
  put16(b, id.vport);
  put16(b, id.port);
  put32(b, id.fwmark);
  put_address(b, id.vip);
  put_address(b, id.server);
}

bool read_down_server(Reader& r, ServerIdentity& id) {
  id.protocol = r.u8();
  const uint8_t families = r.u8();
  const uint16_t reserved = r.u16();
  id.vport = r.u16();
  id.port = r.u16();
  id.fwmark = r.u32();
  const uint8_t vip_family = families >> 4, server_family = families & 0xf;
  if (!read_address(r, vip_family, id.vip) || !read_address(r, server_family, id.server)) return false;
  // As server_identity() names it, nothing else: a service by VIP has a
  // protocol and a port, and so has its server; a fwmark service neither.
  const bool by_vip = vip_family != 0;
  if (reserved != 0 || server_family == 0) return false;
  if (by_vip ? (id.fwmark != 0 || id.vport == 0 || id.protocol == 0 || id.port == 0)
             : (id.fwmark == 0 || id.vport != 0 || id.protocol != 0))
    return false;
  return true;
}

// The alive's fields after the header; `count` down servers follow the fixed part.
bool read_alive(Reader& r, std::size_t count, std::size_t body_size, Alive& a) {
  if (body_size != kAliveFixedSize + count * kDownServerSize) return false;
  const std::span<const uint8_t> digest = r.bytes(a.config_digest.size());
  std::copy(digest.begin(), digest.end(), a.config_digest.begin());
  const uint8_t flags = r.u8();
  if ((flags & ~(kSynced | kDownIncomplete)) != 0) return false;
  a.synced = flags & kSynced;
  a.down_incomplete = flags & kDownIncomplete;
  a.templates = r.u64();
  a.down.resize(count);
  return std::ranges::all_of(a.down, [&](ServerIdentity& id) { return read_down_server(r, id); });
}

}  // namespace

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::truncated: return "truncated";
    case DropReason::oversized: return "oversized";
    case DropReason::bad_magic: return "bad_magic";
    case DropReason::bad_version: return "bad_version";
    case DropReason::bad_mac: return "bad_mac";
    case DropReason::wrong_sync_id: return "wrong_sync_id";
    case DropReason::malformed: return "malformed";
    case DropReason::replayed: return "replayed";
    case DropReason::stale_epoch: return "stale_epoch";
    case DropReason::own: return "own";
  }
  return "unknown";
}

std::size_t encoded_size(const SyncRecord& r) {
  if (r.pe_name.size() > kMaxPeName || r.pe_data.size() > kMaxPeData || (r.pe_name.empty() && !r.pe_data.empty()) ||
      r.client.family == IpAddress::Family::none ||
      (r.server.family == IpAddress::Family::none && r.op == RecordOp::set))
    return 0;
  return kRecordFixedSize + r.pe_name.size() + r.pe_data.size();
}

DatagramWriter::DatagramWriter(const Header& header, std::size_t capacity)
    : capacity_(std::clamp<std::size_t>(capacity, kHeaderSize + kMacSize, kMaxReceived)) {
  buf_.reserve(capacity_);
  Header h = header;
  if (h.type != MessageType::bulk_records) h.type = MessageType::records;
  put_header(buf_, h);
}

bool DatagramWriter::add(const SyncRecord& r) {
  const std::size_t size = encoded_size(r);
  if (size == 0 || buf_.size() + size + kMacSize > capacity_ || count_ == UINT16_MAX) return false;
  put8(buf_, static_cast<uint8_t>(r.op));
  put8(buf_, r.learned ? 1 : 0);
  put8(buf_, r.protocol);
  put8(buf_, static_cast<uint8_t>(family_code(r.vip.family) << 4 | family_code(r.client.family)));
  put8(buf_, family_code(r.server.family));
  put8(buf_, static_cast<uint8_t>(r.pe_name.size()));
  put8(buf_, static_cast<uint8_t>(r.pe_data.size()));
  put8(buf_, 0);
  put16(buf_, r.vport);
  put16(buf_, r.client_port);
  put16(buf_, r.server_port);
  put32(buf_, r.fwmark);
  put32(buf_, r.timeout);
  put_address(buf_, r.vip);
  put_address(buf_, r.client);
  put_address(buf_, r.server);
  buf_.insert(buf_.end(), r.pe_name.begin(), r.pe_name.end());
  buf_.insert(buf_.end(), r.pe_data.begin(), r.pe_data.end());
  ++count_;
  return true;
}

std::span<const uint8_t> DatagramWriter::seal(const Authenticator& auth) {
  finish(buf_, count_, auth);
  return buf_;
}

std::vector<uint8_t> encode_alive(const Header& header, const Alive& alive, const Authenticator& auth,
                                  std::size_t capacity) {
  const std::size_t room = std::clamp(capacity, kHeaderSize + kAliveFixedSize + kMacSize, kMaxReceived) -
                           (kHeaderSize + kAliveFixedSize + kMacSize);
  const std::size_t listed = std::min({alive.down.size(), room / kDownServerSize, std::size_t{UINT16_MAX}});
  const bool incomplete = alive.down_incomplete || listed < alive.down.size();
  std::vector<uint8_t> b;
  Header h = header;
  h.type = MessageType::alive;
  put_header(b, h);
  b.insert(b.end(), alive.config_digest.begin(), alive.config_digest.end());
  put8(b, static_cast<uint8_t>((alive.synced ? kSynced : 0) | (incomplete ? kDownIncomplete : 0)));
  put64(b, alive.templates);
  for (std::size_t i = 0; i < listed; ++i) put_down_server(b, alive.down[i]);
  finish(b, static_cast<uint16_t>(listed), auth);
  return b;
}

std::vector<uint8_t> encode_resync_request(const Header& header, uint64_t node, const Authenticator& auth) {
  std::vector<uint8_t> b;
  Header h = header;
  h.type = MessageType::resync_request;
  put_header(b, h);
  put64(b, node);
  finish(b, 0, auth);
  return b;
}

std::vector<uint8_t> encode_resync_end(const Header& header, uint64_t node, uint64_t sent, const Authenticator& auth) {
  std::vector<uint8_t> b;
  Header h = header;
  h.type = MessageType::resync_end;
  put_header(b, h);
  put64(b, node);
  put64(b, sent);
  finish(b, 0, auth);
  return b;
}

bool decode(std::span<const uint8_t> datagram, const Authenticator& auth, uint16_t sync_id, Message& out,
            DropReason& reason) {
  const auto drop = [&](DropReason r) {
    reason = r;
    return false;
  };
  if (datagram.size() > kMaxReceived) return drop(DropReason::oversized);
  if (datagram.size() < kHeaderSize + kMacSize) return drop(DropReason::truncated);
  if (!std::equal(std::begin(kMagic), std::end(kMagic), datagram.begin())) return drop(DropReason::bad_magic);
  if (datagram[4] != kVersion) return drop(DropReason::bad_version);
  const std::size_t body_size = static_cast<std::size_t>(datagram[34]) << 8 | datagram[35];
  const std::size_t size = kHeaderSize + body_size + kMacSize;
  if (datagram.size() < size) return drop(DropReason::truncated);
  if (datagram.size() > size) return drop(DropReason::oversized);
  const std::span<const uint8_t> signed_part = datagram.first(kHeaderSize + body_size);
  if (!auth.verify(signed_part, datagram.subspan(signed_part.size()).first<kMacSize>()))
    return drop(DropReason::bad_mac);

  Reader r(signed_part);
  r.bytes(5);  // magic and version, checked
  const uint8_t type = r.u8();
  Header& h = out.header;
  h.sync_id = r.u16();
  h.sender = r.u64();
  h.epoch = r.u64();
  h.seq = r.u64();
  const uint16_t count = r.u16();
  r.u16();  // body length, checked
  if (h.sync_id != sync_id) return drop(DropReason::wrong_sync_id);
  out.records.clear();
  out.alive = {};
  switch (type) {
    case static_cast<uint8_t>(MessageType::records):
    case static_cast<uint8_t>(MessageType::bulk_records):
      h.type = static_cast<MessageType>(type);
      // The body bounds the count: each record takes its fixed part at least.
      if (count == 0 || count > body_size / kRecordFixedSize) return drop(DropReason::malformed);
      out.records.resize(count);
      for (SyncRecord& rec : out.records)
        if (!read_record(r, rec)) return drop(DropReason::malformed);
      break;
    case static_cast<uint8_t>(MessageType::alive):
      h.type = MessageType::alive;
      if (!read_alive(r, count, body_size, out.alive)) return drop(DropReason::malformed);
      break;
    case static_cast<uint8_t>(MessageType::resync_request):
      h.type = MessageType::resync_request;
      if (count != 0 || body_size != kResyncRequestBody) return drop(DropReason::malformed);
      out.node = r.u64();
      break;
    case static_cast<uint8_t>(MessageType::resync_end):
      h.type = MessageType::resync_end;
      if (count != 0 || body_size != kResyncEndBody) return drop(DropReason::malformed);
      out.node = r.u64();
      out.sent = r.u64();
      break;
    default:
      return drop(DropReason::malformed);
  }
  if (!r.done() || h.seq == 0) return drop(DropReason::malformed);
  return true;
}

}  // namespace sipvs::sync
