// The `sip-header` persistence engine: like `sip`, but keyed on any SIP header
// named by the parameter ("X-Session-ID", or "Call-ID/i" to add a compact
// form). A second PE that exercises the framework.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/pe/persistence_engine.hpp"

namespace sipvs {
namespace {

bool is_token(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, is_sip_token_char);
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

class SipHeaderPe final : public PersistenceEngine {
 public:
  SipHeaderPe(std::string long_form, char compact) : long_form_(std::move(long_form)), compact_(compact) {}
  std::string_view name() const override { return "sip-header"; }
  PeStatus fill_pe_data(const PacketView& packet, SipScratch& scratch, std::string_view& pe_data) const override {
    return pe_status_from(find_sip_header(packet.payload, {long_form_, compact_}, scratch, pe_data));
  }

 private:
  std::string long_form_;
  char compact_;
};

}  // namespace

std::unique_ptr<PersistenceEngine> make_sip_header_pe(std::string_view param) {
  const std::size_t slash = param.find('/');
  const std::string_view long_form = param.substr(0, slash);
  const std::string_view compact = slash == std::string_view::npos ? "" : param.substr(slash + 1);
  if (!is_token(long_form) || (slash != std::string_view::npos && (compact.size() != 1 || !is_letter(compact[0])))) {
    throw std::invalid_argument("persistence engine 'sip-header' needs a header name as parameter, e.g. "
                                "'X-Session-ID' or 'Call-ID/i' (got '" + std::string(param) + "')");
  }
  return std::make_unique<SipHeaderPe>(std::string(long_form), compact.empty() ? '\0' : compact[0]);
}

}  // namespace sipvs
