// The persistence engines `sip`, `sip-header` and `sip-tag`, built through the registry.
#include <doctest/doctest.h>

#include <cctype>
#include <memory>
#include <string>
#include <string_view>

#include "engine/pe/persistence_engine.hpp"

using namespace sipvs;
using namespace std::string_literals;

namespace {

std::unique_ptr<PersistenceEngine> make(std::string_view name, std::string_view param = "") {
  auto pe = make_persistence_engine(name, param);
  REQUIRE(pe);
  return pe;
}

std::string make_error(std::string_view name, std::string_view param) {
  try {
    make_persistence_engine(name, param);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("no error");
  return {};
}

struct Filled {
  PeStatus status;
  std::string data;
};

Filled fill(const PersistenceEngine& pe, std::string_view payload) {
  PacketView packet;
  packet.protocol = 17;
  packet.payload = payload;
  SipScratch scratch{};
  std::string_view data = "sentinel";
  const PeStatus s = pe.fill_pe_data(packet, scratch, data);
  return {s, std::string(data)};
}

const std::string kMessage =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
    "i: call-1@192.0.2.1\r\n"
    "X-Session-ID:  session-42 \r\n"
    "CSeq: 1 INVITE\r\n"
    "\r\n";

}  // namespace

TEST_CASE("registry names") {
  const std::vector<std::string_view> names = persistence_engine_names();
  REQUIRE(names.size() == 3);
  CHECK(names[0] == "sip");
  CHECK(names[1] == "sip-header");
  CHECK(names[2] == "sip-tag");
}

TEST_CASE("registry errors") {
  CHECK(make_error("nope", "") == "unknown persistence engine 'nope' (known: sip, sip-header, sip-tag)");
  CHECK(make_error("", "") == "unknown persistence engine '' (known: sip, sip-header, sip-tag)");
  CHECK(make_error("SIP", "") == "unknown persistence engine 'SIP' (known: sip, sip-header, sip-tag)");
  CHECK(make_error("sip", "Call-ID") == "persistence engine 'sip' takes no parameter (got 'Call-ID')");
  const std::string header_error =
      "persistence engine 'sip-header' needs a header name as parameter, e.g. 'X-Session-ID' or 'Call-ID/i' "
      "(got '";
  CHECK(make_error("sip-header", "") == header_error + "')");
  CHECK(make_error("sip-header", "X Session") == header_error + "X Session')");
  CHECK(make_error("sip-header", "X-Session:") == header_error + "X-Session:')");
  CHECK(make_error("sip-header", "/i") == header_error + "/i')");
  CHECK(make_error("sip-header", "Call-ID/") == header_error + "Call-ID/')");
  CHECK(make_error("sip-header", "Call-ID/ii") == header_error + "Call-ID/ii')");
  CHECK(make_error("sip-header", "Call-ID/1") == header_error + "Call-ID/1')");
  CHECK(make_error("sip-header", "Call-ID/i/j") == header_error + "Call-ID/i/j')");
}

TEST_CASE("sip-tag PE: the parameter is the tag's name, sipvsd by default") {
  CHECK(make("sip-tag")->name() == "sip-tag");
  CHECK(make("sip-tag", "srvid")->name() == "sip-tag");
  const std::string error = "persistence engine 'sip-tag' takes the tag's parameter name as parameter, 1-32 "
                            "token characters, e.g. 'sipvsd' (the default) or 'srvid' (got '";
  CHECK(make_error("sip-tag", "a=b") == error + "a=b')");
  CHECK(make_error("sip-tag", "two words") == error + "two words')");
  CHECK(make_error("sip-tag", std::string(33, 'x')) == error + std::string(33, 'x') + "')");
}

TEST_CASE("sip-header PE: a name may use every RFC 3261 token character") {
  CHECK(make("sip-header", "aZ09-.!%*_+`'~")->name() == "sip-header");
  for (int c = 0; c < 256; ++c) {
    const bool alnum = c < 128 && std::isalnum(c) != 0;
    const bool mark = c != 0 && std::string_view("-.!%*_+`'~").find(static_cast<char>(c)) != std::string_view::npos;
    CHECK(is_sip_token_char(static_cast<char>(c)) == (alnum || mark));
  }
}

TEST_CASE("sip PE: pe data is the Call-ID") {
  const auto pe = make("sip");
  CHECK(pe->name() == "sip");
  const Filled f = fill(*pe, kMessage);
  CHECK(f.status == PeStatus::matched);
  CHECK(f.data == "call-1@192.0.2.1");
}

TEST_CASE("sip PE: every reason for no pe data") {
  const auto pe = make("sip");
  const std::string start = "OPTIONS sip:x@example.com SIP/2.0\r\n";
  CHECK(fill(*pe, "GET / HTTP/1.1\r\nCall-ID: x\r\n\r\n").status == PeStatus::wrong_protocol);
  CHECK(fill(*pe, "").status == PeStatus::wrong_protocol);
  CHECK(fill(*pe, start + "CSeq: 1 OPTIONS\r\n\r\n").status == PeStatus::absent);
  CHECK(fill(*pe, start + "Call-ID:  \r\n\r\n").status == PeStatus::empty);
  CHECK(fill(*pe, start + "Call-ID: " + std::string(256, 'x') + "\r\n\r\n").status == PeStatus::too_long);
  const Filled c = fill(*pe, start + "Call-ID: a\r\ni: b\r\n\r\n");
  CHECK(c.status == PeStatus::conflicting);
  CHECK(c.data.empty());
}

TEST_CASE("sip PE: a folded Call-ID comes back joined") {
  const auto pe = make("sip");
  CHECK(fill(*pe, "OPTIONS sip:x SIP/2.0\r\nCall-ID: part1\r\n  part2\r\n\r\n").data == "part1 part2");
}

TEST_CASE("sip-header PE: keyed on the named header") {
  const auto pe = make("sip-header", "X-Session-ID");
  CHECK(pe->name() == "sip-header");
  const Filled f = fill(*pe, kMessage);
  CHECK(f.status == PeStatus::matched);
  CHECK(f.data == "session-42");
  CHECK(fill(*make("sip-header", "x-session-id"), kMessage).data == "session-42");
  CHECK(fill(*make("sip-header", "X-Other"), kMessage).status == PeStatus::absent);
  CHECK(fill(*pe, "junk").status == PeStatus::wrong_protocol);
}

TEST_CASE("sip-header PE: a compact form after the slash") {
  CHECK(fill(*make("sip-header", "Call-ID/i"), kMessage).data == "call-1@192.0.2.1");
  CHECK(fill(*make("sip-header", "Call-ID/I"), kMessage).data == "call-1@192.0.2.1");
  // Without the compact form, "i:" is not Call-ID.
  CHECK(fill(*make("sip-header", "Call-ID"), kMessage).status == PeStatus::absent);
}

TEST_CASE("sip-header PE keeps its own copy of the name") {
  std::string param = "X-Session-ID";
  const auto pe = make("sip-header", param);
  param.assign(param.size(), '#');
  CHECK(fill(*pe, kMessage).data == "session-42");
}

TEST_CASE("default match and hash_key agree") {
  const auto pe = make("sip");
  CHECK(pe->match("abc", "abc"));
  CHECK_FALSE(pe->match("abc", "abd"));
  CHECK_FALSE(pe->match("abc", "ABC"));
  const HashKey key{1, 2};
  auto hash = [&](std::string_view d) {
    SipHasher h(key);
    pe->hash_key(h, d);
    return h.finish();
  };
  CHECK(hash("abc") == hash("abc"));
  CHECK(hash("abc") == siphash(key, "abc"));
  CHECK(hash("abc") != hash("abd"));
}

TEST_CASE("show_pe_data escapes what is not printable ASCII") {
  const auto pe = make("sip");
  CHECK(pe->show_pe_data("a84b4c76e66710@pc33.atlanta.example.com") == "a84b4c76e66710@pc33.atlanta.example.com");
  CHECK(pe->show_pe_data("sp ace~") == "sp ace~");
  CHECK(pe->show_pe_data("nul\0x"s) == "nul\\x00x");
  CHECK(pe->show_pe_data("\x01\x1f\x7f\x80\xff") == "\\x01\\x1f\\x7f\\x80\\xff");
  CHECK(pe->show_pe_data("tab\there\r\n") == "tab\\x09here\\x0d\\x0a");
  CHECK(pe->show_pe_data("back\\slash") == "back\\\\slash");
  CHECK(pe->show_pe_data("") == "");
}

TEST_CASE("PeStatus names and the mapping from SipStatus") {
  CHECK(to_string(PeStatus::matched) == "matched");
  CHECK(to_string(PeStatus::wrong_protocol) == "wrong_protocol");
  CHECK(to_string(PeStatus::absent) == "absent");
  CHECK(to_string(PeStatus::empty) == "empty");
  CHECK(to_string(PeStatus::too_long) == "too_long");
  CHECK(to_string(PeStatus::conflicting) == "conflicting");
  CHECK(pe_status_from(SipStatus::found) == PeStatus::matched);
  CHECK(pe_status_from(SipStatus::not_sip) == PeStatus::wrong_protocol);
  CHECK(pe_status_from(SipStatus::absent) == PeStatus::absent);
  CHECK(pe_status_from(SipStatus::empty) == PeStatus::empty);
  CHECK(pe_status_from(SipStatus::too_long) == PeStatus::too_long);
  CHECK(pe_status_from(SipStatus::conflicting) == PeStatus::conflicting);
}

namespace {

// The tag a sip-tag PE reads in `payload`; "-" when it reads none.
std::string tag_of(std::string_view payload, std::string_view name = "") {
  const auto pe = make("sip-tag", name);
  PacketView packet;
  packet.protocol = 17;
  packet.payload = payload;
  SipScratch scratch{};
  std::string_view tag;
  return pe->find_server_tag(packet, scratch, tag) ? std::string(tag) : "-";
}

std::string response_via(std::string_view vias) {
  return "SIP/2.0 200 OK\r\n" + std::string(vias) + "Call-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
}

std::string request(std::string_view uri, std::string_view headers = "") {
  return "BYE " + std::string(uri) + " SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.2:5060;branch=z9hG4bK9;sipvsd=far\r\n" +
         std::string(headers) + "Call-ID: c1\r\nCSeq: 2 BYE\r\n\r\n";
}

}  // namespace

TEST_CASE("sip-tag PE: pe data is the Call-ID, as sip's") {
  const Filled f = fill(*make("sip-tag"), kMessage);
  CHECK(f.status == PeStatus::matched);
  CHECK(f.data == "call-1@192.0.2.1");
}

TEST_CASE("sip-tag PE: a response names its server in the top Via") {
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100:5060;branch=z9hG4bK1;sipvsd=s2\r\n")) == "s2");
  CHECK(tag_of(response_via("v: SIP/2.0/UDP 198.18.2.100;SipVsd=s2;branch=z9hG4bK1\r\n")) == "s2");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP [2001:2::100]:5060;branch=z9hG4bK1;sipvsd=s2;rport=5060\r\n")) == "s2");
  // Only the top Via is ours: the others are the hops before us.
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;sipvsd=s1\r\n"
                            "Via: SIP/2.0/UDP 198.18.1.7;branch=z9hG4bK2;sipvsd=s3\r\n")) == "s1");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1\r\n"
                            "Via: SIP/2.0/UDP 198.18.1.7;branch=z9hG4bK2;sipvsd=s3\r\n")) == "-");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1, "
                            "SIP/2.0/UDP 198.18.1.7;branch=z9hG4bK2;sipvsd=s3\r\n")) == "-");
  // A folded Via, and a name of the operator's choosing (Kamailio's srvid).
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100\r\n ;branch=z9hG4bK1;srvid=7\r\n"), "srvid") == "7");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;sipvsd=s2\r\n"), "srvid") == "-");
  // What is not a tag: no value, a quoted value, another parameter's tail.
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;sipvsd\r\n")) == "-");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;sipvsd=\r\n")) == "-");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;sipvsd=\"s2\"\r\n")) == "-");
  CHECK(tag_of(response_via("Via: SIP/2.0/UDP 198.18.2.100;branch=z9hG4bK1;xsipvsd=s2\r\n")) == "-");
  CHECK(tag_of(response_via("")) == "-");
}

TEST_CASE("sip-tag PE: a request names its server in its top Route or its Request-URI") {
  // The Request-URI is the server's Contact; the request's own Via is the far end's.
  CHECK(tag_of(request("sip:198.18.2.100:5060;sipvsd=s3")) == "s3");
  CHECK(tag_of(request("sip:b2bua@198.18.2.100;transport=udp;SIPVSD=s3")) == "s3");
  CHECK(tag_of(request("sips:[2001:2::100]:5061;sipvsd=s3;lr")) == "s3");
  CHECK(tag_of(request("sip:198.18.2.100:5060;sipvsd=s3?Replaces=x")) == "s3");
  CHECK(tag_of(request("sip:198.18.2.100:5060?sipvsd=s3")) == "-");  // a header, not a parameter
  CHECK(tag_of(request("sip:user;sipvsd=s3@198.18.2.100")) == "-");  // in the user part
  CHECK(tag_of(request("tel:+15551234567;sipvsd=s3")) == "-");
  // The user part, for servers that can set only that: "<name>-<tag>".
  CHECK(tag_of(request("sip:sipvsd-s1@198.18.2.100:5060")) == "s1");
  CHECK(tag_of(request("sip:sipvsd-s1:secret@198.18.2.100")) == "s1");
  CHECK(tag_of(request("sip:srvid-4@198.18.2.100"), "srvid") == "4");
  CHECK(tag_of(request("sip:+4930123456@198.18.2.100")) == "-");
  CHECK(tag_of(request("sip:sipvsd-@198.18.2.100")) == "-");
  CHECK(tag_of(request("sip:sipvsd-s1")) == "-");  // a host, not a user
  // A proxy's Record-Route comes back as the top Route and wins.
  CHECK(tag_of(request("sip:bob@198.18.0.2", "Route: <sip:198.18.2.100;lr;sipvsd=s2>\r\n")) == "s2");
  CHECK(tag_of(request("sip:198.18.2.100;sipvsd=s3", "Route: \"Proxy, <one>\" <sip:198.18.2.100;lr;sipvsd=s2>\r\n")) ==
        "s2");
  CHECK(tag_of(request("sip:198.18.2.100;sipvsd=s3", "Route: <sip:198.18.2.100;lr>;sipvsd=s2\r\n")) == "s3");
  CHECK(tag_of(request("sip:bob@198.18.0.2", "Route: <sip:198.18.2.100;lr>, <sip:198.18.1.9;lr;sipvsd=s2>\r\n")) == "-");
  CHECK(tag_of(request("sip:bob@198.18.0.2", "Route: <sip:198.18.2.100;lr>\r\nRoute: <sip:x;lr;sipvsd=s2>\r\n")) == "-");
  CHECK(tag_of(request("sip:bob@198.18.0.2", "Route: <sip:198.18.2.100;lr;sipvsd=s2\r\n")) == "-");  // no '>'
  // Not SIP: nothing.
  CHECK(tag_of("GET /;sipvsd=s1 HTTP/1.1\r\n\r\n") == "-");
  CHECK(tag_of("") == "-");
}
