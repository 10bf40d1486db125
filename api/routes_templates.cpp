// /v1/templates: the persistence templates (one per call, with pe data), as
// JSON pages or as an `ipvsadm -Lcn --persistent-conn` style listing, and
// flushing some or all of them.
#include <charconv>
#include <cstdio>

#include "daemon/log.hpp"
#include "api/routes.hpp"
#include "api/server_id.hpp"

namespace sipvsd::api {

namespace {

using nlohmann::json;

constexpr std::size_t kDefaultLimit = 1000;
constexpr std::size_t kMaxLimit = 100000;

std::size_t number(const std::string& text, const char* name, std::size_t max) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n > max)
    throw ApiError::bad_field(std::string("query.") + name, "must be a number between 0 and " + std::to_string(max));
  return n;
}

sipvs::TemplateFilter filter_of(const RequestContext& ctx) {
  sipvs::TemplateFilter f;
  f.service = ctx.query_value("service");
  if (auto s = ctx.query_value("server")) {
    const auto ref = parse_server_id(*s);
    if (!ref) throw ApiError::bad_field("query.server", "'" + *s + "' is not address, address:port or [v6]:port");
    f.server = ref->address;
    f.server_port = ref->port;
  }
  f.pe_data = ctx.query_value("callid");
  if (auto c = ctx.query_value("client")) {
    f.client = sipvs::IpAddress::parse(*c);
    if (!f.client) throw ApiError::bad_field("query.client", "'" + *c + "' is not an IP address");
  }
  return f;
}

std::string protocol_name(uint8_t p) {
  switch (p) {
    case 17: return "UDP";
    case 6: return "TCP";
    case 132: return "SCTP";
    default: return "IP";  // fwmark templates match any protocol
  }
}


std::string virtual_of(const sipvs::TemplateInfo& t) {
  return t.fwmark ? "FWM:" + std::to_string(t.fwmark) : t.vip.to_string(t.vport);
}

json template_to_json(const sipvs::TemplateInfo& t) {
  json j{{"service", t.service},        {"protocol", protocol_name(t.protocol)},
         {"client", t.client.to_string()}, {"client_port", t.client_port},
         {"server", server_id(t.server, t.server_port)}, {"mark", t.mark},
         {"pe_name", t.pe_name},        {"pe_data", t.pe_shown},
         {"expires_in", t.expires_in},  {"learned", t.learned}};
  if (t.fwmark) {
    j["fwmark"] = t.fwmark;
  } else {
    j["vip"] = t.vip.to_string();
    j["vport"] = t.vport;
  }
  return j;
}

// One line per template, columns as `ipvsadm -Lcn --persistent-conn` prints
// them: the state column of a UDP template is the protocol's only state.
std::string listing(const std::vector<sipvs::TemplateInfo>& list) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-6s %-6s %-22s %-22s %-22s %-7s %s\n", "pro", "expire", "state", "source",
                "virtual", "destination", "pe name", "pe_data");
  out += line;
  for (const auto& t : list) {
    const std::string pro = protocol_name(t.protocol);
    char expire[16];
    std::snprintf(expire, sizeof expire, "%02u:%02u", t.expires_in / 60, t.expires_in % 60);
    std::snprintf(line, sizeof line, "%-4s %-6s %-6s %-22s %-22s %-22s %-7s ", pro.c_str(), expire,
                  t.protocol == 17 ? "UDP" : "NONE", t.client.to_string(t.client_port).c_str(), virtual_of(t).c_str(),
                  t.server.to_string(t.server_port).c_str(), t.pe_name.empty() ? "-" : t.pe_name.c_str());
    out += line;
    out += t.pe_shown;  // printable: the PE escapes control bytes
    out += '\n';
  }
  return out;
}

}  // namespace

void add_template_routes(Router& router, ControlPlane& control) {
  ControlPlane* cp = &control;

  router.add(
      http::verb::get, "/v1/templates",
      [cp](const RequestContext& ctx) {
        sipvs::TemplateFilter f = filter_of(ctx);
        const auto offset = ctx.query_value("offset");
        const auto limit = ctx.query_value("limit");
        f.offset = offset ? number(*offset, "offset", SIZE_MAX / 2) : 0;
        const std::size_t page = limit ? number(*limit, "limit", kMaxLimit) : kDefaultLimit;
        f.limit = page + 1;  // one more tells whether there is a next page
        const std::string format = ctx.query_value("format").value_or("json");
        if (format != "json" && format != "text") throw ApiError::bad_field("query.format", "must be json or text");

        auto list = cp->engine().templates(f, sipvs::monotonic_seconds());
        const bool more = list.size() > page;
        if (more) list.resize(page);
        if (format == "text") return text_response(http::status::ok, listing(list), "text/plain; charset=utf-8");
        json items = json::array();
        for (const auto& t : list) items.push_back(template_to_json(t));
        json body{{"templates", std::move(items)}, {"offset", f.offset}, {"limit", page}};
        if (more) body["next_offset"] = f.offset + page;
        return json_response(http::status::ok, body);
      },
      {"service", "server", "callid", "client", "offset", "limit", "format"});

  router.add(
      http::verb::delete_, "/v1/templates",
      [cp](const RequestContext& ctx) {
        const std::size_t n = cp->engine().flush_templates(filter_of(ctx));
        LOG_NOTICE("api: %zu templates flushed", n);
        return json_response(http::status::ok, {{"flushed", n}});
      },
      {"service", "server", "callid", "client"});
}

}  // namespace sipvsd::api
