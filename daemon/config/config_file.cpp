#include "daemon/config/config_file.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace sipvsd {

using nlohmann::json;

namespace {

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

std::string sub(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

std::string index(const std::string& prefix, std::size_t i) {
  return prefix + "[" + std::to_string(i) + "]";
}

void expect_object(const json& j, const std::string& field) {
  if (!j.is_object()) throw ConfigFieldError(field.empty() ? "config" : field, "must be a JSON object");
}

// Unknown keys are errors: a typo must not silently become a default.
void check_keys(const json& j, const std::string& field, std::initializer_list<std::string_view> known) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end())
      throw ConfigFieldError(sub(field, it.key()), "unknown key (known keys: " + join(known) + ")");
  }
}

// An array of at most `max` items: a larger one is refused before any of
// it is read (an API request at the body limit holds ~10 000 servers).
void check_array(const json& v, const std::string& field, std::size_t max, const char* what) {
  if (!v.is_array()) throw ConfigFieldError(field, "must be an array");
  if (v.size() > max)
    throw ConfigFieldError(field, std::to_string(v.size()) + " " + what + ", the engine holds at most " +
                                      std::to_string(max));
}

const json* find(const json& j, std::string_view key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

uint64_t get_uint(const json& v, const std::string& field, uint64_t max) {
  if (v.is_number_unsigned()) {
    const auto x = v.get<uint64_t>();
    if (x > max) throw ConfigFieldError(field, "must be between 0 and " + std::to_string(max));
    return x;
  }
  if (v.is_number_integer()) {  // signed: built in C++ rather than parsed, or negative
    const auto x = v.get<int64_t>();
    if (x < 0 || static_cast<uint64_t>(x) > max)
      throw ConfigFieldError(field, "must be between 0 and " + std::to_string(max));
    return static_cast<uint64_t>(x);
  }
  if (v.is_number_float()) throw ConfigFieldError(field, "must be an integer");
  throw ConfigFieldError(field, "must be a number");
}

// No value of ours is longer (paths: PATH_MAX); a longer one is refused
// without being echoed into the error.
constexpr std::size_t kMaxString = 4096;
constexpr std::size_t kMaxServiceName = 64;  // as sipvs::validate, told here without echoing the name

std::string get_string(const json& v, const std::string& field) {
  if (!v.is_string()) throw ConfigFieldError(field, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxString)
    throw ConfigFieldError(field, "is " + std::to_string(s.size()) + " bytes long, at most " +
                                      std::to_string(kMaxString) + " are taken");
  return s;
}

bool get_bool(const json& v, const std::string& field) {
  if (!v.is_boolean()) throw ConfigFieldError(field, "must be true or false");
  return v.get<bool>();
}

// A 32-bit mark: a number, or a string in hex ("0x1f") or decimal ("31").
uint32_t get_mark(const json& v, const std::string& field) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    std::string_view digits = s;
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      digits.remove_prefix(2);
      base = 16;
    }
    uint64_t x = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x, base);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
      throw ConfigFieldError(field, "\"" + s + "\" is not a number (use 0x... for hex)");
    if (x > 0xffffffffu) throw ConfigFieldError(field, "\"" + s + "\" does not fit in 32 bits");
    return static_cast<uint32_t>(x);
  }
  if (v.is_number()) return static_cast<uint32_t>(get_uint(v, field, 0xffffffffu));
  throw ConfigFieldError(field, "must be a number or a \"0x...\" string");
}

sipvs::IpAddress get_address(const json& v, const std::string& field) {
  const std::string s = get_string(v, field);
  auto a = sipvs::IpAddress::parse(s);
  if (!a) throw ConfigFieldError(field, "\"" + s + "\" is not an IPv4 or IPv6 address");
  return *a;
}

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

std::string protocol_name(uint8_t number) {
  for (const auto& p : kProtocols)
    if (p.number == number) return std::string(p.name);
  return std::to_string(number);
}

std::string dotted_mask(unsigned prefix) {
  const uint32_t m = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", m >> 24, (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff);
  return buf;
}

std::vector<uint16_t> get_queues(const json& v, const std::string& field) {
  std::vector<uint16_t> q;
  if (v.is_string()) {
    try {
      return parse_queue_spec(v.get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw ConfigFieldError(field, e.what());
    }
  }
  if (v.is_number()) {
    q.push_back(static_cast<uint16_t>(get_uint(v, field, 65535)));
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      q.push_back(static_cast<uint16_t>(get_uint(v[i], index(field, i), 65535)));
  } else {
    throw ConfigFieldError(field, "must be a range string (\"0-1\"), an array of numbers or a number");
  }
  std::sort(q.begin(), q.end());
  if (auto d = std::adjacent_find(q.begin(), q.end()); d != q.end())
    throw ConfigFieldError(field, "queue " + std::to_string(*d) + " is listed twice");
  return q;
}

ForwardingOptions forwarding_options_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"table_base", "priority_base", "remove_on_exit"});
  ForwardingOptions o;
  if (const json* v = find(j, "table_base"))
    o.table_base = static_cast<uint32_t>(get_uint(*v, sub(field, "table_base"), 0xffffffffu - kForwardingSlots));
  if (const json* v = find(j, "priority_base"))
    o.priority_base = static_cast<uint32_t>(get_uint(*v, sub(field, "priority_base"), 32766 - kForwardingSlots));
  if (const json* v = find(j, "remove_on_exit")) o.remove_on_exit = get_bool(*v, sub(field, "remove_on_exit"));
  return o;
}

// What the forwarding back-ends need (forwarding.hpp): masq is refused for
// every back-end, tun needs IPVS, and the route back-end's ranges must not
// hit the kernel's own tables (253-255) or priorities (0, 32766, 32767).
void check_forwarding(const DaemonConfig& c) {
  const ForwardingOptions& o = c.forwarding_options;
  if (o.table_base == 0 || o.table_base > 0xffffffffu - kForwardingSlots ||
      (o.table_base <= 255 && o.table_base + kForwardingSlots > 253))
    throw ConfigFieldError("forwarding_options.table_base",
                           "tables " + std::to_string(o.table_base) + ".." +
                               std::to_string(uint64_t{o.table_base} + kForwardingSlots - 1) +
                               " must avoid 0 and the kernel's tables 253-255 (e.g. 20000)");
  if (o.priority_base == 0 || o.priority_base > 32766 - kForwardingSlots)
    throw ConfigFieldError("forwarding_options.priority_base",
                           "rule priorities " + std::to_string(o.priority_base) + ".." +
                               std::to_string(uint64_t{o.priority_base} + kForwardingSlots - 1) +
                               " must lie within 1..32765, before the main table's rule (e.g. 20000)");
  std::size_t servers = 0;
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& svc = c.engine.services[i];
    for (std::size_t k = 0; k < svc.servers.size(); ++k) {
      ++servers;
      const std::string f = index(sub(index("services", i), "servers"), k) + ".forward";
      if (svc.servers[k].forward == sipvs::Forward::masq)
        throw ConfigFieldError(f,
                               "masq is not supported: sipvsd's fwmark services use one-packet scheduling "
                               "(-o), which keeps no connection entry, so NAT replies would not be translated "
                               "back; use \"dr\" (direct routing, ipvsadm -g) or \"tun\" (tunnelling, -i)");
      if (svc.servers[k].forward == sipvs::Forward::tun && c.forwarding == "route")
        throw ConfigFieldError(f, "tun needs forwarding: ipvs (forwarding: route does direct routing only)");
    }
  }
  if (c.forwarding == "ipvs" && c.mark_mask != 0xffffffff)
    throw ConfigFieldError("mark_mask", "forwarding: ipvs needs mark_mask 0xffffffff: an IPVS fwmark service "
                                        "compares the whole packet mark, so bits outside the mask would never match");
  if (c.forwarding != "none" && servers > kForwardingSlots)
    throw ConfigFieldError("services", "forwarding " + c.forwarding + " handles at most " +
                                           std::to_string(kForwardingSlots) + " real servers");
}

// A probe leaves from local_address to the server: both of one family.
void check_probe_families(const DaemonConfig& c) {
  auto family_of = [](const std::string& local) { return sipvs::IpAddress::parse(local)->family; };
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& svc = c.engine.services[i];
    const auto hc = c.health_checks.find(svc.name);
    if (hc == c.health_checks.end()) continue;
    for (std::size_t k = 0; k < svc.servers.size(); ++k) {
      const auto& r = svc.servers[k];
      std::string field = sub(index("services", i), "health_check.local_address");
      const HealthCheckConfig* check = hc->second.enabled ? &hc->second.service : nullptr;
      for (const ServerHealthCheck& own : hc->second.servers)
        if (own.address == r.address && own.port == r.port) {
          check = &own.check;
          field = index(sub(index("services", i), "servers"), k) + ".health_check.local_address";
        }
      if (check && !check->local_address.empty() && family_of(check->local_address) != r.address.family)
        throw ConfigFieldError(field, check->local_address + " cannot probe " + r.address.to_string() +
                                          ": not the same address family");
    }
  }
}

// Secure by default: whoever reaches the API can reconfigure the director,
// so off the loopback it needs a token (the Unix socket has its file mode).
void check_api(const ApiConfig& a) {
  if (a.listen.empty() && a.unix_socket.empty())
    throw ConfigFieldError("api", "neither listen nor unix_socket is set: sipvsd needs a way to be managed");
  if (!a.listen.empty() && a.token_file.empty()) {
    const auto at = parse_listen_address(a.listen);
    if (at && !at->is_loopback())
      throw ConfigFieldError("api.token_file", "required: api.listen " + a.listen +
                                                   " is not a loopback address, and without a token anyone "
                                                   "who reaches it can reconfigure the director");
  }
}

}  // namespace

ConfigFieldError::ConfigFieldError(std::string field, std::string reason, Kind kind)
    : ConfigFieldError(sipvs::ConfigError{std::move(field), std::move(reason), kind}) {}

ConfigFieldError::ConfigFieldError(sipvs::ConfigError error)
    : std::runtime_error(error.message()), error_(std::move(error)) {}

JsonSyntaxError::JsonSyntaxError(std::size_t line, std::size_t column, std::string reason)
    : std::runtime_error(std::to_string(line) + ":" + std::to_string(column) + ": " + reason),
      line_(line),
      column_(column),
      reason_(std::move(reason)) {}

std::string_view to_string(DaemonConfig::Unplaced u) {
  return u == DaemonConfig::Unplaced::drop ? "drop" : "accept";
}

std::string_view to_string(sipvs::Forward f) {
  switch (f) {
    case sipvs::Forward::tun: return "tun";
    case sipvs::Forward::masq: return "masq";
    default: return "dr";
  }
}

std::string mark_to_string(uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", mark);
  return buf;
}

// ---- queues ----

std::vector<uint16_t> parse_queue_spec(std::string_view text) {
  std::vector<uint16_t> out;
  auto number = [&](std::string_view s) -> unsigned {
    unsigned x = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || x > 65535)
      throw std::invalid_argument("\"" + std::string(s) + "\" is not a queue number (0-65535)");
    return x;
  };
  if (text.empty()) throw std::invalid_argument("empty queue list");
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      out.push_back(static_cast<uint16_t>(number(item)));
    } else {
      const unsigned lo = number(item.substr(0, dash)), hi = number(item.substr(dash + 1));
      if (lo > hi) throw std::invalid_argument("range \"" + std::string(item) + "\" goes backwards");
      if (hi - lo >= kMaxQueues)
        throw std::invalid_argument("range \"" + std::string(item) + "\" has more than " +
                                    std::to_string(kMaxQueues) + " queues");
      for (unsigned q = lo; q <= hi; ++q) out.push_back(static_cast<uint16_t>(q));
    }
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  if (auto d = std::adjacent_find(out.begin(), out.end()); d != out.end())
    throw std::invalid_argument("queue " + std::to_string(*d) + " is listed twice");
  return out;
}

std::string queue_spec_to_string(const std::vector<uint16_t>& queues) {
  std::string out;
  for (std::size_t i = 0; i < queues.size();) {
    std::size_t j = i;
    while (j + 1 < queues.size() && queues[j + 1] == queues[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(queues[i]);
    if (j > i) {
      out += '-';  // (not "-" + to_string(): GCC 12 -O2 warns wrongly with -Wrestrict there)
      out += std::to_string(queues[j]);
    }
    i = j + 1;
  }
  return out;
}

// ---- servers and services ----

sipvs::RealServerConfig server_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"address", "port", "weight", "mark", "forward"});
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
  return s;
}

json server_to_json(const sipvs::RealServerConfig& s) {
  return json{{"address", s.address.to_string()},
              {"port", s.port},
              {"weight", s.weight},
              {"mark", s.mark},
              {"forward", std::string(to_string(s.forward))}};
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

// ---- health checks ----

std::string_view to_string(HealthCheckConfig::OnDown d) {
  return d == HealthCheckConfig::OnDown::expire ? "expire" : "keep";
}

HealthCheckConfig health_check_from_json(const json& j, const std::string& field, const HealthCheckConfig& base) {
  expect_object(j, field);
  check_keys(j, field,
             {"interval_ms", "timeout_ms", "failures", "successes", "codes", "local_address", "local_port",
              "on_down"});
  HealthCheckConfig h = base;
  const json* v;
  auto positive = [&](const char* key, uint32_t& out, uint64_t max) {
    if ((v = find(j, key))) {
      out = static_cast<uint32_t>(get_uint(*v, sub(field, key), max));
      if (out == 0) throw ConfigFieldError(sub(field, key), "must be at least 1");
    }
  };
  positive("interval_ms", h.interval_ms, 3'600'000);
  positive("timeout_ms", h.timeout_ms, 3'600'000);
  positive("failures", h.failures, 1000);
  positive("successes", h.successes, 1000);
  if (h.timeout_ms > h.interval_ms)
    throw ConfigFieldError(sub(field, "timeout_ms"), std::to_string(h.timeout_ms) + " exceeds interval_ms " +
                                                         std::to_string(h.interval_ms) +
                                                         " (one probe is outstanding at a time)");
  if ((v = find(j, "codes"))) {
    const std::string f = sub(field, "codes");
    if (!v->is_array()) throw ConfigFieldError(f, "must be an array of SIP response codes (empty: any final)");
    h.codes.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto c = static_cast<uint16_t>(get_uint((*v)[i], index(f, i), 699));
      if (c < 200) throw ConfigFieldError(index(f, i), "must be a final response code, 200-699");
      h.codes.push_back(c);
    }
  }
  if ((v = find(j, "local_address"))) {
    h.local_address = get_string(*v, sub(field, "local_address"));
    if (!h.local_address.empty() && !sipvs::IpAddress::parse(h.local_address))
      throw ConfigFieldError(sub(field, "local_address"),
                             "\"" + h.local_address + "\" is not an IPv4 or IPv6 address (empty: any)");
  }
  if ((v = find(j, "local_port")))
    h.local_port = static_cast<uint16_t>(get_uint(*v, sub(field, "local_port"), 65535));
  if ((v = find(j, "on_down"))) {
    const std::string d = get_string(*v, sub(field, "on_down"));
    if (d == "keep")
      h.on_down = HealthCheckConfig::OnDown::keep;
    else if (d == "expire")
      h.on_down = HealthCheckConfig::OnDown::expire;
    else
      throw ConfigFieldError(sub(field, "on_down"), "\"" + d + "\" is not one of keep, expire");
  }
  return h;
}

json health_check_to_json(const HealthCheckConfig& h) {
  return json{{"interval_ms", h.interval_ms},     {"timeout_ms", h.timeout_ms},
              {"failures", h.failures},           {"successes", h.successes},
              {"codes", h.codes},                 {"local_address", h.local_address},
              {"local_port", h.local_port},       {"on_down", std::string(to_string(h.on_down))}};
}

CheckedServer checked_server_from_json(const json& j, const std::string& field, const ServiceHealthChecks& service) {
  CheckedServer out;
  if (!j.is_object()) {
    out.server = server_from_json(j, field);  // tells the type error
    return out;
  }
  json r = j;
  if (auto it = r.find("health_check"); it != r.end()) {
    out.check = health_check_from_json(*it, sub(field, "health_check"), service.service);
    r.erase(it);
  }
  out.server = server_from_json(r, field);
  return out;
}

CheckedService checked_service_from_json(const json& j, const std::string& field) {
  CheckedService out;
  if (!j.is_object()) {
    out.service = service_from_json(j, field);
    return out;
  }
  if (auto servers = j.find("servers"); servers != j.end())
    check_array(*servers, sub(field, "servers"), sipvs::kMaxRealServers, "real servers");  // before the copy
  json s = j;
  if (auto it = s.find("health_check"); it != s.end()) {
    out.checks.enabled = true;
    out.checks.service = health_check_from_json(*it, sub(field, "health_check"));
    s.erase(it);
  }
  // The servers' own checks first (they start from the service's), then the
  // service without any "health_check" key, which service_from_json does not know.
  if (auto servers = s.find("servers"); servers != s.end() && servers->is_array()) {
    for (std::size_t i = 0; i < servers->size(); ++i) {
      json& r = (*servers)[i];
      if (!r.is_object() || !r.contains("health_check")) continue;
      CheckedServer cs = checked_server_from_json(r, index(sub(field, "servers"), i), out.checks);
      r.erase("health_check");
      out.checks.servers.push_back({cs.server.address, cs.server.port, *cs.check});
    }
  }
  out.service = service_from_json(s, field);
  return out;
}

json server_to_json(const sipvs::RealServerConfig& r, const ServiceHealthChecks* checks) {
  json j = server_to_json(r);
  if (checks)
    for (const ServerHealthCheck& sc : checks->servers)
      if (sc.address == r.address && sc.port == r.port) j["health_check"] = health_check_to_json(sc.check);
  return j;
}

json service_to_json(const sipvs::ServiceConfig& s, const HealthChecks& checks) {
  json j = service_to_json(s);
  const auto hc = checks.find(s.name);
  if (hc == checks.end()) return j;
  if (hc->second.enabled) j["health_check"] = health_check_to_json(hc->second.service);
  j["servers"] = json::array();
  for (const auto& r : s.servers) j["servers"].push_back(server_to_json(r, &hc->second));
  return j;
}

void set_health_checks(HealthChecks& all, const std::string& name, ServiceHealthChecks checks) {
  if (checks.enabled || !checks.servers.empty())
    all[name] = std::move(checks);
  else
    all.erase(name);
}

bool ListenAddress::is_loopback() const {
  static constexpr uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (address.is_v4()) return address.bytes[0] == 127;
  return std::equal(address.bytes.begin(), address.bytes.end(), kV6Loopback);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  ListenAddress out;
  const auto address = sipvs::IpAddress::parse(host);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (!address || port.empty() || ec != std::errc{} || end != port.data() + port.size()) return std::nullopt;
  out.address = *address;
  return out;
}

ApiConfig api_from_json(const json& j, const std::string& field) {
  expect_object(j, field);
  check_keys(j, field, {"listen", "unix_socket", "token_file"});
  ApiConfig a;
  if (const json* v = find(j, "listen")) {
    a.listen = get_string(*v, sub(field, "listen"));
    if (!a.listen.empty() && !parse_listen_address(a.listen))
      throw ConfigFieldError(sub(field, "listen"), "\"" + a.listen +
                                                       "\" is not a numeric ip:port or [ipv6]:port "
                                                       "(e.g. 127.0.0.1:8080; empty: no TCP listener)");
  }
  if (const json* v = find(j, "unix_socket")) a.unix_socket = get_string(*v, sub(field, "unix_socket"));
  if (const json* v = find(j, "token_file")) a.token_file = get_string(*v, sub(field, "token_file"));
  return a;
}

json api_to_json(const ApiConfig& a) {
  return json{{"listen", a.listen}, {"unix_socket", a.unix_socket}, {"token_file", a.token_file}};
}

// ---- the whole file ----

void check_config(const DaemonConfig& c) {
  if (c.queues.empty()) throw ConfigFieldError("queues", "at least one queue is needed");
  if (c.queues.size() > kMaxQueues)
    throw ConfigFieldError("queues", "at most " + std::to_string(kMaxQueues) + " queues (one worker each)");
  if (!std::is_sorted(c.queues.begin(), c.queues.end()) ||
      std::adjacent_find(c.queues.begin(), c.queues.end()) != c.queues.end())
    throw ConfigFieldError("queues", "must be ascending without duplicates");
  if (c.queue_maxlen == 0) throw ConfigFieldError("queue_maxlen", "must be at least 1");
  if (c.mark_mask == 0) throw ConfigFieldError("mark_mask", "must not be 0 (sipvsd needs some mark bits)");
  if (c.debug_level > kMaxDebugLevel)
    throw ConfigFieldError("debug_level", "must be between 0 and " + std::to_string(kMaxDebugLevel));
  if (c.forwarding != "none" && c.forwarding != "route" && c.forwarding != "ipvs")
    throw ConfigFieldError("forwarding", "\"" + c.forwarding + "\" is not one of none, route, ipvs");
  check_forwarding(c);
  check_api(c.api);
  check_probe_families(c);
  if (auto err = sipvs::validate(c.engine)) throw ConfigFieldError(std::move(*err));
  for (std::size_t i = 0; i < c.engine.services.size(); ++i) {
    const auto& servers = c.engine.services[i].servers;
    for (std::size_t k = 0; k < servers.size(); ++k) {
      if ((servers[k].mark & ~c.mark_mask) != 0)
        throw ConfigFieldError(index(sub(index("services", i), "servers"), k) + ".mark",
                               mark_to_string(servers[k].mark) + " has bits outside mark_mask " +
                                   mark_to_string(c.mark_mask));
    }
  }
}

DaemonConfig parse_config(const json& j) {
  expect_object(j, "");
  check_keys(j, "",
             {"queues", "queue_maxlen", "mark_mask", "unplaced", "max_templates", "max_new_templates_per_source",
              "per_source_prefix_v4", "per_source_prefix_v6", "udp_timeout", "debug_level", "state_file",
              "templates_save_interval", "forwarding", "forwarding_options", "api", "services"});
  DaemonConfig c;
  const json* v;
  if ((v = find(j, "queues"))) c.queues = get_queues(*v, "queues");
  if ((v = find(j, "queue_maxlen"))) c.queue_maxlen = static_cast<uint32_t>(get_uint(*v, "queue_maxlen", 0xffffffffu));
  if ((v = find(j, "mark_mask"))) c.mark_mask = get_mark(*v, "mark_mask");
  if ((v = find(j, "unplaced"))) {
    const std::string s = get_string(*v, "unplaced");
    if (s == "accept")
      c.unplaced = DaemonConfig::Unplaced::accept;
    else if (s == "drop")
      c.unplaced = DaemonConfig::Unplaced::drop;
    else
      throw ConfigFieldError("unplaced", "\"" + s + "\" is not one of accept, drop");
  }
  if ((v = find(j, "max_templates"))) c.engine.max_templates = get_uint(*v, "max_templates", UINT64_MAX);
  if ((v = find(j, "max_new_templates_per_source")))
    c.engine.max_new_templates_per_source =
        static_cast<uint32_t>(get_uint(*v, "max_new_templates_per_source", 0xffffffffu));
  if ((v = find(j, "per_source_prefix_v4")))
    c.engine.per_source_prefix_v4 = static_cast<unsigned>(get_uint(*v, "per_source_prefix_v4", 32));
  if ((v = find(j, "per_source_prefix_v6")))
    c.engine.per_source_prefix_v6 = static_cast<unsigned>(get_uint(*v, "per_source_prefix_v6", 128));
  if ((v = find(j, "templates_save_interval")))
    c.templates_save_interval = static_cast<uint32_t>(get_uint(*v, "templates_save_interval", 86400));
  if ((v = find(j, "udp_timeout"))) c.engine.udp_timeout = static_cast<uint32_t>(get_uint(*v, "udp_timeout", 0xffffffffu));
  if ((v = find(j, "debug_level"))) c.debug_level = static_cast<unsigned>(get_uint(*v, "debug_level", kMaxDebugLevel));
  if ((v = find(j, "state_file"))) c.state_file = get_string(*v, "state_file");
  if ((v = find(j, "forwarding"))) c.forwarding = get_string(*v, "forwarding");
  if ((v = find(j, "forwarding_options"))) c.forwarding_options = forwarding_options_from_json(*v, "forwarding_options");
  if ((v = find(j, "api"))) c.api = api_from_json(*v, "api");
  if ((v = find(j, "services"))) {
    check_array(*v, "services", sipvs::kMaxServices, "services");
    for (std::size_t i = 0; i < v->size(); ++i) {
      CheckedService cs = checked_service_from_json((*v)[i], index("services", i));
      set_health_checks(c.health_checks, cs.service.name, std::move(cs.checks));
      c.engine.services.push_back(std::move(cs.service));
    }
  }
  check_config(c);
  return c;
}

json to_json(const DaemonConfig& c) {
  json j;
  if (c.queues.size() == 1)
    j["queues"] = c.queues[0];
  else
    j["queues"] = queue_spec_to_string(c.queues);
  j["queue_maxlen"] = c.queue_maxlen;
  j["mark_mask"] = mark_to_string(c.mark_mask);
  j["unplaced"] = std::string(to_string(c.unplaced));
  j["max_templates"] = c.engine.max_templates;
  j["max_new_templates_per_source"] = c.engine.max_new_templates_per_source;
  j["per_source_prefix_v4"] = c.engine.per_source_prefix_v4;
  j["per_source_prefix_v6"] = c.engine.per_source_prefix_v6;
  j["udp_timeout"] = c.engine.udp_timeout;
  j["debug_level"] = c.debug_level;
  j["state_file"] = c.state_file;
  j["templates_save_interval"] = c.templates_save_interval;
  j["forwarding"] = c.forwarding;
  j["forwarding_options"] = json{{"table_base", c.forwarding_options.table_base},
                                 {"priority_base", c.forwarding_options.priority_base},
                                 {"remove_on_exit", c.forwarding_options.remove_on_exit}};
  j["api"] = api_to_json(c.api);
  j["services"] = json::array();
  for (const auto& s : c.engine.services) j["services"].push_back(service_to_json(s, c.health_checks));
  return j;
}

// ---- JSON text ----

namespace {

// nlohmann/json's DOM builder, plus two checks as the SAX events come:
// duplicate keys (nlohmann/json keeps the last of them without a word; a
// config with two "weight"s is a mistake worth reporting) and the nesting
// depth (nlohmann/json copies, compares and merge-patches recursively: a
// document nested deeper than any of ours is refused before it can exhaust a
// thread's stack). Not the callback parser: it walks the parent container at
// each object's end, quadratic in an array of 10 000 servers.
class CheckedDomBuilder : public nlohmann::detail::json_sax_dom_parser<json> {
  using Base = nlohmann::detail::json_sax_dom_parser<json>;

 public:
  explicit CheckedDomBuilder(json& result) : Base(result, true) {}

  // sax_parse() calls these by the static type: they shadow the base's.
  bool start_object(std::size_t n) { return open(false) && Base::start_object(n); }
  bool start_array(std::size_t n) { return open(true) && Base::start_array(n); }
  bool end_object() { return close() && Base::end_object(); }
  bool end_array() { return close() && Base::end_array(); }
  bool key(json::string_t& k) {
    Frame& f = stack_.back();
    f.key = k;
    if (!f.keys.insert(k).second) throw ConfigFieldError(path(), "duplicate key");
    return Base::key(k);
  }
  bool null() { return value_done() && Base::null(); }
  bool boolean(bool v) { return value_done() && Base::boolean(v); }
  bool number_integer(json::number_integer_t v) { return value_done() && Base::number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value_done() && Base::number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return value_done() && Base::number_float(v, s); }
  bool string(json::string_t& v) { return value_done() && Base::string(v); }
  bool binary(json::binary_t& v) { return value_done() && Base::binary(v); }
  // A number beyond a double ("1e999") comes as out_of_range.406, which no
  // caller expects: it is a fault of the text like any other syntax error.
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    if constexpr (std::is_same_v<Exception, json::out_of_range>)
      throw json::parse_error::create(101, position, "number overflow parsing '" + token + "'", nullptr);
    return Base::parse_error(position, token, error);
  }

 private:
  struct Frame {
    bool array = false;
    std::size_t index = 0;  // arrays: the element being parsed
    std::string key;        // objects: the member being parsed
    std::set<std::string> keys;
  };

  bool open(bool array) {
    if (stack_.size() >= kMaxJsonDepth)
      throw ConfigFieldError(path(), "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    stack_.push_back(Frame{array, 0, {}, {}});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return value_done();
  }
  bool value_done() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    return true;
  }
  // Where the parser is: "services[1].servers[0].mark".
  std::string path() const {
    std::string p;
    for (const Frame& f : stack_) p = f.array ? p + "[" + std::to_string(f.index) + "]" : sub(p, f.key);
    return p;
  }

  std::vector<Frame> stack_;
};

}  // namespace

nlohmann::json parse_json_text(std::string_view text) {
  try {
    json result;
    CheckedDomBuilder builder(result);
    json::sax_parse(text.begin(), text.end(), &builder);
    return result;
  } catch (const json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line L, column C: reason"
    std::string what = e.what();
    std::size_t line = 0, column = 0;
    const auto at = what.find("at line ");
    if (at == std::string::npos ||
        std::sscanf(what.c_str() + at, "at line %zu, column %zu", &line, &column) != 2) {
      line = 1;
      column = 1;
      const std::size_t end = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
      for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
    }
    std::string reason = what;
    if (const auto colon = what.find(": ", at == std::string::npos ? 0 : at); colon != std::string::npos)
      reason = what.substr(colon + 2);
    throw JsonSyntaxError(line, column, reason);
  }
}

DaemonConfig load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UnusableFile(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw UnusableFile(path + ": cannot read: " + std::strerror(errno));
  try {
    return parse_config(parse_json_text(text.str()));
  } catch (const JsonSyntaxError& e) {
    throw UnusableFile(path + ":" + e.what());
  } catch (const ConfigFieldError& e) {
    throw UnusableFile(path + ": " + e.what());
  }
}

}  // namespace sipvsd
