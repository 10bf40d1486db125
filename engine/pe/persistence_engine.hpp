#pragma once
// The persistence-engine (PE) framework, after IPVS's struct ip_vs_pe: a PE
// finds the extra template key ("pe data") in a packet, matches and hashes it,
// and renders it for listings. Adding a PE means one file and one line in
// pe_registry.cpp.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parse/packet_view.hpp"
#include "engine/parse/sip_header.hpp"
#include "engine/siphash.hpp"

namespace sipvs {

// Why a PE found no data; every value but `matched` makes the packet fall
// back to plain persistence (the template key without pe data).
enum class PeStatus : uint8_t {
  matched,
  wrong_protocol,
  absent,
  empty,
  too_long,
  conflicting,
  last = conflicting,  // counters indexed by status are sized from it
};
inline constexpr std::size_t kPeStatusCount = static_cast<std::size_t>(PeStatus::last) + 1;
std::string_view to_string(PeStatus s);
PeStatus pe_status_from(SipStatus s);

class PersistenceEngine {
 public:
  virtual ~PersistenceEngine() = default;
  virtual std::string_view name() const = 0;
  // ip_vs_pe.fill_param: the pe data of this packet, as a view into the
  // payload or into `scratch`; never longer than kMaxSipValue.
  virtual PeStatus fill_pe_data(const PacketView& packet, SipScratch& scratch,
                                std::string_view& pe_data) const = 0;
  // Not in IPVS: the real server a message names itself, for a PE that
  // reads one (sip-tag) from a mark the server put in what it sent. A view
  // into the payload or into `scratch`; false when the message has none.
  virtual bool find_server_tag(const PacketView&, SipScratch&, std::string_view&) const { return false; }
  // ip_vs_pe.ct_match: do two pe data values name the same session?
  virtual bool match(std::string_view a, std::string_view b) const { return a == b; }
  // ip_vs_pe.hashkey_raw: add pe data to a template's hash; must agree with match().
  virtual void hash_key(SipHasher& h, std::string_view pe_data) const { h.update(pe_data); }
  // ip_vs_pe.show_pe_data: printable form for listings (control plane only).
  virtual std::string show_pe_data(std::string_view pe_data) const;
};

// Builds a PE by name; `param` is the PE's one option (e.g. a header name).
// Throws std::invalid_argument saying why for an unknown name or a bad option.
std::unique_ptr<PersistenceEngine> make_persistence_engine(std::string_view name, std::string_view param);
std::vector<std::string_view> persistence_engine_names();

}  // namespace sipvs
