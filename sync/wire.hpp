#pragma once
// The sync wire format, version 1 (docs/sync-protocol.md): one UDP datagram
// is a header, a body and a MAC over both. Big-endian throughout.
//
//   header (36 bytes): magic "SVSY", version, type, sync id, sender node,
//                      sender epoch, sequence number, record count, body length
//   body:              records (type records), or the type's fixed fields (an
//                      alive's followed by the servers its sender sees down)
//   MAC (32 bytes):    HMAC-SHA-512-256 of header and body under the shared key
//
// Nothing here touches a socket: the daemon's sync thread sends what
// DatagramWriter fills and hands what it receives to decode().
#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sync/authenticator.hpp"
#include "sync/server_identity.hpp"
#include "sync/sync_record.hpp"

namespace sipvs::sync {

inline constexpr uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 36;
inline constexpr std::size_t kRecordFixedSize = 70;
inline constexpr std::size_t kMaxPeName = 32;
inline constexpr std::size_t kMaxPeData = 255;
// What a director sends: fits an IPv6 packet on a 1500-byte link.
inline constexpr std::size_t kMaxDatagram = 1452;
// What it takes: anything a UDP datagram can hold on a jumbo-frame link.
inline constexpr std::size_t kMaxReceived = 9000;
// An alive's body: its fixed fields, then one fixed-size entry per server
// its sender sees down; as many as fit in kMaxDatagram (30), the rest left
// out and the list marked incomplete.
inline constexpr std::size_t kAliveFixedSize = 32 + 1 + 8;
inline constexpr std::size_t kDownServerSize = 44;
inline constexpr std::size_t kMaxDownServers =
    (kMaxDatagram - kHeaderSize - kMacSize - kAliveFixedSize) / kDownServerSize;

enum class MessageType : uint8_t {
  records = 1,         // template changes as they happen
  resync_request = 2,  // "send me your whole table", to one node
  alive = 3,           // every second: here I am, this configuration, synced or not, these servers down
  resync_end = 4,      // a bulk resync is complete
  bulk_records = 5,    // a bulk resync's table, as records: the one who asked sees it advance
};

struct Header {
  MessageType type = MessageType::records;
  uint16_t sync_id = 0;  // several clusters on one network each use their own
  uint64_t sender = 0;   // the sending director's node id
  uint64_t epoch = 0;    // when it started (ns since the Unix epoch): a restart is a new epoch
  uint64_t seq = 0;      // per sender and epoch, from 1
};

struct Alive {
  std::array<uint8_t, 32> config_digest{};  // of the services it runs (drift shows)
  bool synced = false;                      // its table is complete (after a bulk resync)
  uint64_t templates = 0;                   // in its table
  // The servers its own health checks see down (not what it makes of its
  // peers' views: those would echo back); incomplete when some were left out.
  std::vector<ServerIdentity> down;
  bool down_incomplete = false;
  friend bool operator==(const Alive&, const Alive&) = default;
};

struct Message {
  Header header;
  std::vector<SyncRecord> records;  // records
  Alive alive;                      // alive
  uint64_t node = 0;                // resync_request: the node asked; resync_end: the node answered
  uint64_t sent = 0;                // resync_end: records the bulk resync sent
};

// Why a datagram was not taken. Each reason has its own counter.
enum class DropReason : uint8_t {
  truncated,      // shorter than a header and a MAC, or than its body length says
  oversized,      // longer than kMaxReceived, or than its body length says
  bad_magic,      // not a sync datagram
  bad_version,    // another version of the format
  bad_mac,        // forged, or another key
  wrong_sync_id,  // another cluster's
  malformed,      // authentic but not well formed (unknown type, bad record)
  replayed,       // seen already (ReplayWindow)
  stale_epoch,    // from an earlier start of its sender (ReplayWindow)
  own,            // sent by this director (multicast loops back)
  last = own,
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::last) + 1;
std::string_view to_string(DropReason r);

// Bytes a record takes on the wire; 0 when it cannot be encoded (pe name or
// data too long, no client, a set record without a server).
std::size_t encoded_size(const SyncRecord& r);

// Fills one datagram of at most `capacity` bytes (kMaxDatagram by default),
// of the header's type if it is bulk_records, else records.
class DatagramWriter {
 public:
  explicit DatagramWriter(const Header& header, std::size_t capacity = kMaxDatagram);
  // Appends a record; false when it does not fit (send this one, start the
  // next) or cannot be encoded (encoded_size 0).
  bool add(const SyncRecord& r);
  std::size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The datagram, body length and MAC filled in; the writer is spent.
  std::span<const uint8_t> seal(const Authenticator& auth);

 private:
  std::vector<uint8_t> buf_;
  std::size_t capacity_;
  uint16_t count_ = 0;
};

// A datagram of another type than records. An alive lists the down servers
// that fit in `capacity` bytes, in their order, and says so if not all did.
std::vector<uint8_t> encode_alive(const Header& header, const Alive& alive, const Authenticator& auth,
                                  std::size_t capacity = kMaxDatagram);
std::vector<uint8_t> encode_resync_request(const Header& header, uint64_t node, const Authenticator& auth);
std::vector<uint8_t> encode_resync_end(const Header& header, uint64_t node, uint64_t sent, const Authenticator& auth);

// Reads a datagram: checks its size and MAC before anything else, then that
// it is well formed throughout. Sets `reason` and returns false when it is
// not taken; replays and own datagrams are the caller's to tell.
bool decode(std::span<const uint8_t> datagram, const Authenticator& auth, uint16_t sync_id, Message& out,
            DropReason& reason);

}  // namespace sipvs::sync
