// The `sip` persistence engine, as IPVS's ip_vs_pe_sip: the pe data is the
// Call-ID of the SIP message in the UDP payload, so every packet of a call
// follows the same template to the same real server.
#include <memory>
#include <stdexcept>

#include "engine/pe/persistence_engine.hpp"

namespace sipvs {
namespace {

class SipPe final : public PersistenceEngine {
 public:
  std::string_view name() const override { return "sip"; }
  PeStatus fill_pe_data(const PacketView& packet, SipScratch& scratch, std::string_view& pe_data) const override {
    return pe_status_from(find_call_id(packet.payload, scratch, pe_data));
  }
};

}  // namespace

std::unique_ptr<PersistenceEngine> make_sip_pe(std::string_view param) {
  if (!param.empty())
    throw std::invalid_argument("persistence engine 'sip' takes no parameter (got '" + std::string(param) + "')");
  return std::make_unique<SipPe>();
}

}  // namespace sipvs
