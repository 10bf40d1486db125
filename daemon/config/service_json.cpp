#include "daemon/config/service_json.hpp"

#include <cstdint>
#include <cstdio>
#include <optional>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/json_fields.hpp"

namespace sipvsd {

using nlohmann::json;
using namespace json_fields;

namespace {

constexpr std::size_t kMaxServiceName = 64;  // as sipvs::validate, told here without echoing the name

struct Protocol {
  std::string_view name;
  uint8_t number;
};
constexpr Protocol kProtocols[] = {{"udp", 17}, {"tcp", 6}, {"sctp", 132}};

uint8_t get_protocol(const json& v, const std::string& field) {
  const std::string s = get_string(v, field);
  for (const auto& p : kProtocols)
    if (p.name == s) return p.number;
  throw ConfigFieldError(field, "\"" + s + "\" is not one of udp, tcp, sctp");
}

std::string dotted_mask(unsigned prefix) {
  const uint32_t m = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", m >> 24, (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff);
  return buf;
}

}  // namespace

std::string protocol_name(uint8_t number) {
  for (const auto& p : kProtocols)
    if (p.number == number) return std::string(p.name);
  return std::to_string(number);
}

std::string_view to_string(sipvs::Forward f) {
  switch (f) {
    case sipvs::Forward::tun: return "tun";
    case sipvs::Forward::masq: return "masq";
    default: return "dr";
  }
}

sipvs::RealServerConfig server_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"address", "port", "weight", "mark", "forward", "tag", "max_calls", "min_calls"});
  sipvs::RealServerConfig s;
  const json* v = find(j, "address");
  if (!v) throw ConfigFieldError(sub(field, "address"), "missing (the real server's IP address)");
  s.address = get_address(*v, sub(field, "address"));
  if ((v = find(j, "port"))) s.port = static_cast<uint16_t>(get_uint(*v, sub(field, "port"), 65535));
  if ((v = find(j, "weight"))) s.weight = static_cast<uint32_t>(get_uint(*v, sub(field, "weight"), sipvs::kMaxWeight));
  v = find(j, "mark");
  if (!v) throw ConfigFieldError(sub(field, "mark"), "missing (the packet mark that routes to this server)");
  s.mark = get_mark(*v, sub(field, "mark"));
  if (s.mark == 0) throw ConfigFieldError(sub(field, "mark"), "must not be 0 (0 means unmarked)");
  if ((v = find(j, "forward"))) {
    const std::string f = get_string(*v, sub(field, "forward"));
    if (f == "dr")
      s.forward = sipvs::Forward::dr;
    else if (f == "tun")
      s.forward = sipvs::Forward::tun;
    else if (f == "masq")
      s.forward = sipvs::Forward::masq;
    else
      throw ConfigFieldError(sub(field, "forward"), "\"" + f + "\" is not one of dr, tun, masq");
  }
  if ((v = find(j, "tag"))) {
    s.tag = get_string(*v, sub(field, "tag"));
    if (s.tag.empty()) throw ConfigFieldError(sub(field, "tag"), "must not be empty (leave it out for no tag)");
  }
  // How the two go together is sipvs::validate's to say.
  if ((v = find(j, "max_calls")))
    s.max_calls = static_cast<uint32_t>(get_uint(*v, sub(field, "max_calls"), sipvs::kMaxCalls));
  if ((v = find(j, "min_calls")))
    s.min_calls = static_cast<uint32_t>(get_uint(*v, sub(field, "min_calls"), sipvs::kMaxCalls));
  return s;
}

json server_to_json(const sipvs::RealServerConfig& s) {
  json j{{"address", s.address.to_string()},
         {"port", s.port},
         {"weight", s.weight},
         {"mark", s.mark},
         {"forward", std::string(to_string(s.forward))}};
  if (!s.tag.empty()) j["tag"] = s.tag;
  // Only when set: a server without limits is written as before them.
  if (s.max_calls != 0) j["max_calls"] = s.max_calls;
  if (s.min_calls != 0) j["min_calls"] = s.min_calls;
  return j;
}

sipvs::ServiceConfig service_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field,
             {"name", "protocol", "vip", "port", "fwmark", "scheduler", "persistence_timeout", "netmask",
              "one_packet", "pe", "pe_param", "servers"});
  sipvs::ServiceConfig s;
  const json* v = find(j, "name");
  if (!v) throw ConfigFieldError(sub(field, "name"), "missing (every service needs a unique name)");
  s.name = get_string(*v, sub(field, "name"));
  if (s.name.empty() || s.name.size() > kMaxServiceName)
    throw ConfigFieldError(sub(field, "name"), "must be 1-" + std::to_string(kMaxServiceName) +
                                                   " characters long, not " + std::to_string(s.name.size()));

  if (const json* fw = find(j, "fwmark")) {
    for (std::string_view k : {"vip", "port", "protocol"})
      if (find(j, k))
        throw ConfigFieldError(sub(field, k), "not allowed with fwmark (a service has either vip+port or fwmark)");
    s.fwmark = get_mark(*fw, sub(field, "fwmark"));
    if (s.fwmark == 0) throw ConfigFieldError(sub(field, "fwmark"), "must not be 0");
  } else {
    v = find(j, "vip");
    if (!v) throw ConfigFieldError(sub(field, "vip"), "missing (a service has either vip+port or fwmark)");
    s.vip = get_address(*v, sub(field, "vip"));
    v = find(j, "port");
    if (!v) throw ConfigFieldError(sub(field, "port"), "missing (the virtual service's port, e.g. 5060)");
    s.port = static_cast<uint16_t>(get_uint(*v, sub(field, "port"), 65535));
    if ((v = find(j, "protocol"))) s.protocol = get_protocol(*v, sub(field, "protocol"));
  }
  if ((v = find(j, "scheduler"))) s.scheduler = get_string(*v, sub(field, "scheduler"));
  if ((v = find(j, "persistence_timeout")))
    s.persistence_timeout = static_cast<uint32_t>(get_uint(*v, sub(field, "persistence_timeout"), 0xffffffffu));
  if ((v = find(j, "netmask"))) {
    const std::string f = sub(field, "netmask");
    if (v->is_number()) {
      const unsigned max = s.is_fwmark() || !s.vip.is_v4() ? 128 : 32;
      s.netmask = static_cast<unsigned>(get_uint(*v, f, max));
    } else {
      const std::string text = get_string(*v, f);
      std::optional<unsigned> p;
      if (s.is_fwmark()) {
        p = sipvs::parse_netmask(text, sipvs::IpAddress::Family::v4);
        if (!p) p = sipvs::parse_netmask(text, sipvs::IpAddress::Family::v6);
      } else {
        p = sipvs::parse_netmask(text, s.vip.family);
      }
      if (!p)
        throw ConfigFieldError(f, "\"" + text + "\" is neither a contiguous dotted mask nor a prefix length" +
                                      (s.vip.is_v4() ? " (0-32)" : " (0-128)"));
      s.netmask = *p;
    }
  }
  if ((v = find(j, "one_packet"))) s.one_packet = get_bool(*v, sub(field, "one_packet"));
  if ((v = find(j, "pe"))) s.pe = get_string(*v, sub(field, "pe"));
  if ((v = find(j, "pe_param"))) s.pe_param = get_string(*v, sub(field, "pe_param"));
  if ((v = find(j, "servers"))) {
    const std::string f = sub(field, "servers");
    check_array(*v, f, sipvs::kMaxRealServers, "real servers");
    for (std::size_t i = 0; i < v->size(); ++i) s.servers.push_back(server_from_json((*v)[i], index(f, i)));
  }
  return s;
}

json service_to_json(const sipvs::ServiceConfig& s) {
  json j;
  j["name"] = s.name;
  if (s.is_fwmark()) {
    j["fwmark"] = s.fwmark;
  } else {
    j["protocol"] = protocol_name(s.protocol);
    j["vip"] = s.vip.to_string();
    j["port"] = s.port;
  }
  j["scheduler"] = s.scheduler;
  j["persistence_timeout"] = s.persistence_timeout;
  if (s.netmask) {
    if (!s.is_fwmark() && s.vip.is_v4() && *s.netmask <= 32)
      j["netmask"] = dotted_mask(*s.netmask);
    else
      j["netmask"] = *s.netmask;
  }
  j["one_packet"] = s.one_packet;
  j["pe"] = s.pe;
  j["pe_param"] = s.pe_param;
  j["servers"] = json::array();
  for (const auto& r : s.servers) j["servers"].push_back(server_to_json(r));
  return j;
}

}  // namespace sipvsd
