// The `sip-tag` persistence engine: `sip` (the Call-ID keys the template),
// plus the real server a message names itself. A server that tags what it
// sends, with a parameter `;sipvsd=<tag>` (the name is the PE's parameter)
// in its Via and in its Contact or Record-Route, gets back:
//   - the responses to its requests, whose top Via is its own;
//   - the in-dialog requests of its calls, whose Request-URI is its Contact
//     or whose top Route is its Record-Route;
// and, where a server can set only its Contact's user part, a Request-URI
// user "<name>-<tag>" names it too. It needs no template and no path
// through the director, so calls the servers place keep their server.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/parse/sip_params.hpp"
#include "engine/pe/persistence_engine.hpp"

namespace sipvs {
namespace {

constexpr SipHeaderName kVia{"Via", 'v'};
constexpr SipHeaderName kRoute{"Route", '\0'};

bool is_tag(std::string_view s) { return !s.empty() && std::ranges::all_of(s, is_sip_token_char); }

class SipTagPe final : public PersistenceEngine {
 public:
  explicit SipTagPe(std::string name) : name_(std::move(name)), user_prefix_(name_ + "-") {}
  std::string_view name() const override { return "sip-tag"; }
  PeStatus fill_pe_data(const PacketView& packet, SipScratch& scratch, std::string_view& pe_data) const override {
    return pe_status_from(find_call_id(packet.payload, scratch, pe_data));
  }

  bool find_server_tag(const PacketView& packet, SipScratch& scratch, std::string_view& tag) const override {
    const std::string_view message = packet.payload;
    std::string_view value;
    if (is_sip_response(message)) {
      if (find_first_sip_header(message, kVia, scratch, value) != SipStatus::found) return false;
      return found(find_param(via_params(first_header_value(value)), name_), tag);
    }
    const std::string_view request_uri = sip_request_uri(message);
    if (request_uri.empty()) return false;
    if (find_first_sip_header(message, kRoute, scratch, value) == SipStatus::found &&
        found(find_param(uri_params(name_addr_uri(first_header_value(value))), name_), tag))
      return true;
    if (found(find_param(uri_params(request_uri), name_), tag)) return true;
    const std::string_view user = uri_user(request_uri);
    if (user.size() <= user_prefix_.size() || !user.starts_with(user_prefix_)) return false;
    return found(user.substr(user_prefix_.size()), tag);
  }

 private:
  static bool found(std::optional<std::string_view> value, std::string_view& tag) {
    if (!value || !is_tag(*value)) return false;
    tag = *value;
    return true;
  }

  std::string name_;
  std::string user_prefix_;
};

}  // namespace

std::unique_ptr<PersistenceEngine> make_sip_tag_pe(std::string_view param) {
  const std::string_view name = param.empty() ? "sipvsd" : param;
  if (name.size() > 32 || !is_tag(name))
    throw std::invalid_argument("persistence engine 'sip-tag' takes the tag's parameter name as parameter, 1-32 "
                                "token characters, e.g. 'sipvsd' (the default) or 'srvid' (got '" +
                                std::string(param) + "')");
  return std::make_unique<SipTagPe>(std::string(name));
}

}  // namespace sipvs
