#include "daemon/tools/replay.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "engine/decision_text.hpp"
#include "engine/parse/packet_view.hpp"

namespace sipvsd {

namespace {

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The IP packet inside a link-layer frame; empty if there is none.
std::span<const uint8_t> ip_packet(int linktype, const uint8_t* f, std::size_t len) {
  std::size_t off = 0;
  switch (linktype) {
    case DLT_EN10MB: {
      off = 12;
      uint16_t type = 0;
      for (int tags = 0; tags < 3; ++tags) {  // up to two VLAN tags
        if (len < off + 2) return {};
        type = be16(f + off);
        if (type != 0x8100 && type != 0x88a8) break;
        off += 4;
      }
      if (type != 0x0800 && type != 0x86dd) return {};
      off += 2;
      break;
    }
    case DLT_LINUX_SLL:
      if (len < 16 || (be16(f + 14) != 0x0800 && be16(f + 14) != 0x86dd)) return {};
      off = 16;
      break;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
      if (len < 20 || (be16(f) != 0x0800 && be16(f) != 0x86dd)) return {};
      off = 20;
      break;
#endif
    case DLT_NULL:
    case DLT_LOOP:
      off = 4;
      break;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
      off = 0;
      break;
    default:
      return {};
  }
  if (len <= off) return {};
  std::span<const uint8_t> ip(f + off, len - off);
  const unsigned version = ip[0] >> 4;
  // Cut link-layer padding (short Ethernet frames) at the IP length.
  if (version == 4 && ip.size() >= 20) {
    const std::size_t total = be16(ip.data() + 2);
    if (total >= 20 && total < ip.size()) ip = ip.first(total);
  } else if (version == 6 && ip.size() >= 40) {
    const std::size_t total = 40u + be16(ip.data() + 4);
    if (total < ip.size()) ip = ip.first(total);
  } else {
    return {};
  }
  return ip;
}

// IPv4 and IPv6 reassembly, as the kernel's defragmentation does before
// NFQUEUE when connection tracking is loaded. IPv6: only a fragment header
// right after the fixed header (the usual case).
class Reassembler {
 public:
  enum class Result { whole, held, done, bad };

  // `out` gets the reassembled datagram when the result is `done`.
  Result add(std::span<const uint8_t> ip, double t, std::vector<uint8_t>& out) {
    expire(t);
    Fragment fr;
    if (!describe(ip, fr)) return Result::whole;
    if (fr.offset + fr.data.size() > 65535) return Result::bad;
    auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.key == fr.key; });
    if (it == pending_.end()) {
      if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
      Pending fresh;
      fresh.key = fr.key;
      fresh.first = t;
      pending_.push_back(std::move(fresh));
      it = pending_.end() - 1;
    }
    Pending& p = *it;
    if (fr.offset == 0) p.header.assign(ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(fr.header_len));
    if (!fr.more) {
      p.total = fr.offset + fr.data.size();
      p.have_last = true;
    }
    if (p.data.size() < fr.offset + fr.data.size()) p.data.resize(fr.offset + fr.data.size());
    std::copy(fr.data.begin(), fr.data.end(), p.data.begin() + static_cast<std::ptrdiff_t>(fr.offset));
    p.pieces.emplace_back(fr.offset, fr.offset + fr.data.size());
    if (!complete(p)) return Result::held;
    out = p.header;
    out.insert(out.end(), p.data.begin(), p.data.begin() + static_cast<std::ptrdiff_t>(p.total));
    if ((out[0] >> 4) == 4) {
      const std::size_t len = out.size();
      out[2] = static_cast<uint8_t>(len >> 8);
      out[3] = static_cast<uint8_t>(len);
      out[6] = out[7] = 0;  // no more fragments, offset 0
    } else {
      // Drop the fragment header: the fixed header's next header becomes the fragment's.
      const uint8_t next = p.header_next;
      out.erase(out.begin() + 40, out.begin() + 48);
      out[6] = next;
      const std::size_t plen = out.size() - 40;
      out[4] = static_cast<uint8_t>(plen >> 8);
      out[5] = static_cast<uint8_t>(plen);
    }
    pending_.erase(it);
    return Result::done;
  }

 private:
  static constexpr std::size_t kMaxPending = 256;
  static constexpr double kTimeout = 30;  // seconds, as the kernel's ipfrag_time

  struct Fragment {
    std::vector<uint8_t> key;
    std::size_t offset = 0;
    bool more = false;
    std::size_t header_len = 0;
    std::span<const uint8_t> data;
    uint8_t next = 0;
  };
  struct Pending {
    std::vector<uint8_t> key;
    double first = 0;
    std::vector<uint8_t> header, data;
    std::size_t total = 0;
    bool have_last = false;
    uint8_t header_next = 0;
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
  };
  std::vector<Pending> pending_;

  bool describe(std::span<const uint8_t> ip, Fragment& fr) {
    if ((ip[0] >> 4) == 4) {
      const std::size_t ihl = (ip[0] & 0x0fu) * 4u;
      if (ihl < 20 || ip.size() < ihl) return false;
      const uint16_t fo = be16(ip.data() + 6);
      fr.more = fo & 0x2000;
      fr.offset = (fo & 0x1fffu) * 8u;
      if (!fr.more && fr.offset == 0) return false;
      fr.key.assign(ip.begin() + 12, ip.begin() + 20);  // addresses
      fr.key.insert(fr.key.end(), {ip[4], ip[5], ip[9], 4});  // id, protocol
      fr.header_len = ihl;
      fr.data = ip.subspan(ihl);
      return true;
    }
    if (ip.size() < 48 || ip[6] != 44) return false;  // fragment header right after the fixed one
    const uint16_t fo = be16(ip.data() + 42);
    fr.more = fo & 1;
    fr.offset = fo & 0xfff8u;
    fr.next = ip[40];
    fr.key.assign(ip.begin() + 8, ip.begin() + 40);
    fr.key.insert(fr.key.end(), ip.begin() + 44, ip.begin() + 48);
    fr.key.push_back(6);
    fr.header_len = 48;
    fr.data = ip.subspan(48);
    return true;
  }

  bool complete(Pending& p) {
    if (!p.have_last || p.header.empty()) return false;
    if (p.header.size() >= 48 && (p.header[0] >> 4) == 6) p.header_next = p.header[40];
    std::sort(p.pieces.begin(), p.pieces.end());
    std::size_t covered = 0;
    for (const auto& [a, b] : p.pieces) {
      if (a > covered) return false;
      covered = std::max(covered, b);
    }
    return covered >= p.total;
  }

  void expire(double t) {
    std::erase_if(pending_, [&](const Pending& p) { return t - p.first > kTimeout; });
  }
};

// One capture's packets, decided in order by a worker of the engine whose
// clock follows the capture's timestamps.
class Replay {
 public:
  Replay(sipvs::Engine& engine, int linktype, std::FILE* out)
      : decider_(engine.make_decider()), linktype_(linktype), out_(out) {}

  void frame(const pcap_pkthdr& h, const u_char* data) {
    ++summary.frames;
    if (!t0_) t0_ = h.ts;
    const double t = static_cast<double>(h.ts.tv_sec - t0_->tv_sec) + (h.ts.tv_usec - t0_->tv_usec) / 1e6;
    // The engine's clock: whole seconds since the capture began (plus one, so never 0).
    const auto now = static_cast<sipvs::Seconds>(1 + std::max<long>(0, h.ts.tv_sec - t0_->tv_sec));
    std::span<const uint8_t> ip = ip_packet(linktype_, data, h.caplen);
    if (ip.empty()) {
      ++summary.skipped;
      return;
    }
    std::string note;
    switch (reassembler_.add(ip, t, whole_)) {
      case Reassembler::Result::whole:
        break;
      case Reassembler::Result::held:
        ++summary.fragments;
        held(ip, t);
        return;
      case Reassembler::Result::done:
        ++summary.reassembled;
        ip = whole_;
        note = " reassembled=" + std::to_string(whole_.size());
        break;
      case Reassembler::Result::bad:
        note = " bad-fragment";
        break;
    }
    ++summary.ip_packets;
    const sipvs::Decision d = decider_.decide(ip, 0, now);
    summary.placed += d.outcome == sipvs::Outcome::placed;
    std::fprintf(out_, "%.6f len=%zu%s %s\n", t, ip.size(), note.c_str(), sipvs::describe(d).c_str());
  }

  ReplaySummary summary;

 private:
  void held(std::span<const uint8_t> fragment, double t) {
    sipvs::PacketView pv;
    sipvs::parse_packet(fragment, pv);
    std::fprintf(out_, "%.6f %s -> %s fragment held for reassembly\n", t, pv.src.to_string().c_str(),
                 pv.dst.to_string().c_str());
  }

  sipvs::Engine::Decider decider_;
  const int linktype_;
  std::FILE* const out_;
  Reassembler reassembler_;
  std::vector<uint8_t> whole_;
  std::optional<timeval> t0_;
};

}  // namespace

ReplaySummary replay_capture(sipvs::Engine& engine, const std::string& path, std::FILE* out) {
  char err[PCAP_ERRBUF_SIZE] = "";
  pcap_t* pc = pcap_open_offline(path.c_str(), err);
  if (!pc) throw std::runtime_error(path + ": " + err);
  const int linktype = pcap_datalink(pc);
  Replay replay(engine, linktype, out);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(pc, &h, &data)) == 1) replay.frame(*h, data);
  const std::string error = rc == -1 ? pcap_geterr(pc) : "";
  pcap_close(pc);
  if (!error.empty()) throw std::runtime_error(path + ": " + error);
  const ReplaySummary& sum = replay.summary;
  if (sum.frames > 0 && sum.ip_packets == 0 && sum.fragments == 0)
    std::fprintf(out, "# no IP packets found (link type %d %s)\n", linktype,
                 pcap_datalink_val_to_name(linktype) ? pcap_datalink_val_to_name(linktype) : "?");
  return sum;
}

}  // namespace sipvsd
