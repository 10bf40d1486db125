// find_sip_header / find_call_id: start-line recognition, name matching,
// folding, repeated headers and limits (RFC 3261 §7, §7.3.1, §25).
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "engine/parse/sip_header.hpp"

using namespace sipvs;
using namespace std::string_literals;

namespace {

struct Result {
  SipStatus status;
  std::string value;
  bool in_scratch = false;  // the value was joined into the scratch buffer
  bool in_message = false;  // the value is a view into the message
};

Result call_id(std::string_view m, SipHeaderName name = kCallId) {
  SipScratch scratch{};
  std::string_view v = "sentinel";
  const SipStatus s = find_sip_header(m, name, scratch, v);
  Result r{s, std::string(v)};
  r.in_scratch = !v.empty() && v.data() >= scratch.data() && v.data() + v.size() <= scratch.data() + scratch.size();
  r.in_message = !v.empty() && v.data() >= m.data() && v.data() + v.size() <= m.data() + m.size();
  return r;
}

// A request with the given header lines (each ending in CRLF) and a body.
std::string request(std::string_view headers, std::string_view body = "") {
  return "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"s + std::string(headers) + "\r\n" + std::string(body);
}

const std::string kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 142\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 pc33.atlanta.example.com\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

}  // namespace

TEST_CASE("RFC 3261 style dialog: INVITE, 200 OK, ACK, BYE") {
  const Result invite = call_id(kInvite);
  CHECK(invite.status == SipStatus::found);
  CHECK(invite.value == "a84b4c76e66710@pc33.atlanta.example.com");
  CHECK(invite.in_message);

  const std::string ok =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP server10.biloxi.example.com;branch=z9hG4bKnashds8;received=192.0.2.3\r\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
      "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
      "CSeq: 314159 INVITE\r\n"
      "Contact: <sip:bob@192.0.2.4>\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(call_id(ok).value == "a84b4c76e66710@pc33.atlanta.example.com");

  const std::string ack =
      "ACK sip:bob@192.0.2.4 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds9\r\n"
      "Max-Forwards: 70\r\n"
      "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
      "CSeq: 314159 ACK\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(call_id(ack).value == "a84b4c76e66710@pc33.atlanta.example.com");

  const std::string bye =
      "BYE sip:alice@pc33.atlanta.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n"
      "Max-Forwards: 70\r\n"
      "From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
      "To: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
      "CSeq: 231 BYE\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  const Result r = call_id(bye);
  CHECK(r.status == SipStatus::found);
  CHECK(r.value == "a84b4c76e66710@pc33.atlanta.example.com");
}

TEST_CASE("other headers of the same message") {
  CHECK(call_id(kInvite, {"CSeq", 0}).value == "314159 INVITE");
  CHECK(call_id(kInvite, {"Max-Forwards", 0}).value == "70");
  CHECK(call_id(kInvite, {"Content-Type", 'c'}).value == "application/sdp");
  CHECK(call_id(kInvite, {"X-Session-ID", 0}).status == SipStatus::absent);
}

TEST_CASE("header names: compact form, any case, whitespace before the colon") {
  CHECK(call_id(request("i: compact@host\r\n")).value == "compact@host");
  CHECK(call_id(request("I: upper-compact@host\r\n")).value == "upper-compact@host");
  CHECK(call_id(request("cALL-iD: mixed@host\r\n")).value == "mixed@host");
  CHECK(call_id(request("CALL-ID:nospace@host\r\n")).value == "nospace@host");
  CHECK(call_id(request("Call-ID   : spaced@host\r\n")).value == "spaced@host");
  CHECK(call_id(request("Call-ID\t:\ttabbed@host\t\r\n")).value == "tabbed@host");
  CHECK(call_id(request("i \t : c2@host  \r\n")).value == "c2@host");
}

TEST_CASE("headers that merely look like Call-ID do not match") {
  const Result r = call_id(request("Call-Info: <http://wwww.example.com/alice/photo.jpg>;purpose=icon\r\n"
                                   "i-foo: nope\r\n"
                                   "Call-IDx: nope\r\n"
                                   "Call-I: nope\r\n"
                                   "ix: nope\r\n"
                                   "Call-ID-Extra: nope\r\n"
                                   " Call-ID: continuation, not a header\r\n"
                                   "X-Call-ID: nope\r\n"));
  CHECK(r.status == SipStatus::absent);
  CHECK(r.value.empty());
  CHECK(call_id(request("Call-Info: <http://x>\r\ni-foo: y\r\ni: real@host\r\n")).value == "real@host");
}

TEST_CASE("a compact letter that starts the long form too") {
  const SipHeaderName subject{"Subject", 's'};
  CHECK(call_id(request("s: short\r\n"), subject).value == "short");
  CHECK(call_id(request("Subject: long\r\n"), subject).value == "long");
  CHECK(call_id(request("Subjects: no\r\nsu: no\r\n"), subject).status == SipStatus::absent);
}

TEST_CASE("folded values") {
  SUBCASE("folding before the value starts keeps it contiguous") {
    const Result r = call_id(request("Call-ID:\r\n   abc@host\r\n"));
    CHECK(r.status == SipStatus::found);
    CHECK(r.value == "abc@host");
    CHECK(r.in_message);
  }
  SUBCASE("several empty continuation lines before the value") {
    const Result r = call_id(request("Call-ID:  \r\n \r\n\t\r\n\tabc@host \r\nCSeq: 1 INVITE\r\n"));
    CHECK(r.value == "abc@host");
    CHECK(r.in_message);
  }
  SUBCASE("folding inside the value joins with one SP") {
    const Result r = call_id(request("Call-ID: abc\r\n def\r\n\t  ghi\r\nCSeq: 1 INVITE\r\n"));
    CHECK(r.status == SipStatus::found);
    CHECK(r.value == "abc def ghi");
    CHECK(r.in_scratch);
  }
  SUBCASE("whitespace before the line break is part of the folding LWS") {
    CHECK(call_id(request("Call-ID: abc \t\r\n   def\r\n")).value == "abc def");
  }
  SUBCASE("whitespace inside one line is kept as is") {
    CHECK(call_id(request("Call-ID: a  b\tc\r\n")).value == "a  b\tc");
  }
  SUBCASE("bare LF folding") {
    CHECK(call_id(request("Call-ID: abc\n def\n")).value == "abc def");
  }
  SUBCASE("a folded value of another header does not hide the next header") {
    CHECK(call_id(request("Subject: one\r\n two\r\nCall-ID: after@fold\r\n")).value == "after@fold");
  }
}

TEST_CASE("bare LF line ends") {
  const std::string m = "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h\nCall-ID: lf-only@h\n\nCall-ID: body\n";
  CHECK(call_id(m).value == "lf-only@h");
  CHECK(call_id("SIP/2.0 180 Ringing\ni: lf2@h\n").value == "lf2@h");
}

TEST_CASE("mixed CRLF and LF") {
  CHECK(call_id("BYE sip:x@y SIP/2.0\r\nVia: v\ni: mixed@h\r\n\n").value == "mixed@h");
}

TEST_CASE("only the header section is searched") {
  const Result r = call_id(request("Content-Type: message/sip\r\n",
                                   "INVITE sip:x@y SIP/2.0\r\nCall-ID: in-the-body@h\r\n\r\n"));
  CHECK(r.status == SipStatus::absent);
  CHECK(call_id(request("Via: x\r\n", "Call-ID: body\r\n")).status == SipStatus::absent);
  CHECK(call_id(request("Call-ID: head@h\r\n", "Call-ID: body@h\r\n")).value == "head@h");
  CHECK(call_id("INVITE sip:x@y SIP/2.0\n\nCall-ID: body-lf@h\n").status == SipStatus::absent);
}

TEST_CASE("the header section may end at the end of the buffer") {
  CHECK(call_id("INVITE sip:x@y SIP/2.0\r\nCall-ID: no-empty-line@h\r\n").value == "no-empty-line@h");
  CHECK(call_id("INVITE sip:x@y SIP/2.0\r\nCall-ID: no-line-end@h").value == "no-line-end@h");
  CHECK(call_id("INVITE sip:x@y SIP/2.0\r\nCall-ID: cr-at-end@h\r").value == "cr-at-end@h");
  CHECK(call_id("INVITE sip:x@y SIP/2.0\r\nCall-ID: abc\r\n def").value == "abc def");
  CHECK(call_id("INVITE sip:x@y SIP/2.0").status == SipStatus::absent);
  CHECK(call_id("SIP/2.0 200 OK\r\n").status == SipStatus::absent);
}

TEST_CASE("repeated header") {
  SUBCASE("equal values are found") {
    const Result r = call_id(request("Call-ID: same@h\r\nVia: x\r\ni:same@h\r\n"));
    CHECK(r.status == SipStatus::found);
    CHECK(r.value == "same@h");
  }
  SUBCASE("equal folded values are found, and the value stays in scratch") {
    const Result r = call_id(request("Call-ID: a\r\n b\r\nCall-ID: a\r\n\t\tb\r\n"));
    CHECK(r.status == SipStatus::found);
    CHECK(r.value == "a b");
    CHECK(r.in_scratch);
  }
  SUBCASE("a folded and a contiguous spelling of the same value") {
    CHECK(call_id(request("Call-ID: a b\r\nCall-ID: a\r\n b\r\n")).value == "a b");
  }
  SUBCASE("different values conflict") {
    const Result r = call_id(request("Call-ID: one@h\r\nCall-ID: two@h\r\n"));
    CHECK(r.status == SipStatus::conflicting);
    CHECK(r.value.empty());
  }
  SUBCASE("values differing only in case conflict (Call-ID is case-sensitive)") {
    CHECK(call_id(request("Call-ID: abc@h\r\ni: ABC@h\r\n")).status == SipStatus::conflicting);
  }
  SUBCASE("empty and non-empty conflict") {
    CHECK(call_id(request("Call-ID:\r\nCall-ID: x@h\r\n")).status == SipStatus::conflicting);
    CHECK(call_id(request("Call-ID: x@h\r\nCall-ID: \r\n")).status == SipStatus::conflicting);
  }
  SUBCASE("two empty values are empty") {
    CHECK(call_id(request("Call-ID:\r\nCall-ID:  \r\n")).status == SipStatus::empty);
  }
}

TEST_CASE("value length limits") {
  const std::string v255(255, 'a'), v256(256, 'b');
  SUBCASE("255 bytes is found, 256 is too long") {
    const Result ok = call_id(request("Call-ID: " + v255 + "\r\n"));
    CHECK(ok.status == SipStatus::found);
    CHECK(ok.value == v255);
    const Result r = call_id(request("Call-ID: " + v256 + "\r\n"));
    CHECK(r.status == SipStatus::too_long);
    CHECK(r.value.empty());
  }
  SUBCASE("surrounding whitespace does not count") {
    CHECK(call_id(request("Call-ID:    " + v255 + "   \r\n")).status == SipStatus::found);
  }
  SUBCASE("folded: 255 joined bytes fit the scratch, 256 do not") {
    const std::string a(127, 'a'), b(127, 'b');
    const Result r = call_id(request("Call-ID: " + a + "\r\n " + b + "\r\n"));
    CHECK(r.status == SipStatus::found);
    CHECK(r.value == a + " " + b);
    CHECK(r.value.size() == 255);
    CHECK(call_id(request("Call-ID: " + a + "\r\n " + b + "b\r\n")).status == SipStatus::too_long);
  }
  SUBCASE("an over-long repeat makes the whole result too long") {
    CHECK(call_id(request("Call-ID: x@h\r\nCall-ID: " + v256 + "\r\n")).status == SipStatus::too_long);
  }
}

TEST_CASE("empty values") {
  CHECK(call_id(request("Call-ID:\r\n")).status == SipStatus::empty);
  CHECK(call_id(request("Call-ID: \t \r\nCSeq: 1 INVITE\r\n")).status == SipStatus::empty);
  CHECK(call_id(request("i:\r\n \r\n")).status == SipStatus::empty);
}

TEST_CASE("header lines without a colon are skipped") {
  CHECK(call_id(request("this is not a header\r\nCall-ID no colon\r\nCall-ID: ok@h\r\n")).value == "ok@h");
  CHECK(call_id(request("Call-ID\r\n")).status == SipStatus::absent);
}

TEST_CASE("not SIP") {
  CHECK(call_id("GET / HTTP/1.1\r\nHost: example.com\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("HTTP/1.1 200 OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("SIP/2.0 20 OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("SIP/2.0 2000 OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("SIP/2.0 abc OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("SIP/2.0  200 OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("SIP/3.0 200 OK\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE sip:x SIP/3.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE sip:x SIP/2.0 \r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE sip:x SIP/2.01\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE  sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE sip:x\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INVITE SIP/2.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("INV(ITE sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id(" INVITE sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("\r\nINVITE sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n").status == SipStatus::not_sip);
  CHECK(call_id("").status == SipStatus::not_sip);
  CHECK(call_id("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s).status == SipStatus::not_sip);
  CHECK(call_id("INV\0ITE sip:x SIP/2.0\r\nCall-ID: x\r\n\r\n"s).status == SipStatus::not_sip);
  CHECK(call_id("SIP/2.0\0" "200 OK\r\nCall-ID: x\r\n\r\n"s).status == SipStatus::not_sip);
  const Result r = call_id("GET / HTTP/1.1\r\nCall-ID: x\r\n\r\n");
  CHECK(r.value.empty());
}

TEST_CASE("start line variants that are SIP") {
  CHECK(call_id("sip/2.0 200 ok\r\ni: lower@h\r\n").value == "lower@h");
  CHECK(call_id("invite sip:x@y sip/2.0\r\ni: lower-req@h\r\n").value == "lower-req@h");
  CHECK(call_id("SIP/2.0 404 \r\ni: empty-reason@h\r\n").value == "empty-reason@h");
  CHECK(call_id("SIP/2.0 404\r\ni: no-reason-sp@h\r\n").value == "no-reason-sp@h");
  CHECK(call_id("SIP/2.0 999 Whatever  you like\r\ni: ext-code@h\r\n").value == "ext-code@h");
  CHECK(call_id("NEWMETHOD tel:+1-201-555-0123 SIP/2.0\r\ni: tel@h\r\n").value == "tel@h");
  // The Request-URI is only checked for SP: this recognises SIP, it does not validate it.
  CHECK(call_id("INVITE sip:a\tb\0c SIP/2.0\r\ni: ctl-uri@h\r\n"s).value == "ctl-uri@h");
}

TEST_CASE("NUL bytes are ordinary bytes") {
  const std::string with_nul = "MESSAGE sip:x@y SIP/2.0\r\nSubject: a\0b\r\nCall-ID: c\0d@h\r\n\r\n"s;
  const Result r = call_id(with_nul);
  CHECK(r.status == SipStatus::found);
  CHECK(r.value == "c\0d@h"s);
  CHECK(r.value.size() == 5);
  CHECK(call_id("MESSAGE sip:x@y SIP/2.0\r\n\0Call-ID: x\r\nCall-ID: y@h\r\n"s).value == "y@h");
}

TEST_CASE("the value is a view into the message when not folded") {
  const std::string m = request("Call-ID:   view@h   \r\n");
  SipScratch scratch{};
  std::string_view v;
  REQUIRE(find_call_id(m, scratch, v) == SipStatus::found);
  CHECK(v.data() == m.data() + m.find("view@h"));
  CHECK(v.size() == 6);
}

TEST_CASE("every prefix of a message is parsed within its bounds") {
  struct Case {
    std::string message;
    std::string id;
    std::size_t complete;  // from this length on, the value is whole
  };
  const std::string folded = request("Subject: a\r\n b\r\nCall-ID: x\r\n  y\r\nCSeq: 1 INVITE\r\n", "body");
  const std::string id = "a84b4c76e66710@pc33.atlanta.example.com";
  const Case cases[] = {
      {kInvite, id, kInvite.find(id) + id.size()},
      {folded, "x y", folded.find("y\r\n") + 1},
  };
  for (const auto& [full, value, complete] : cases) {
    const std::size_t start_line = full.find("\r\n");
    for (std::size_t n = 0; n <= full.size(); ++n) {
      CAPTURE(n);
      // An exact-size heap copy, so ASan sees any read past the prefix.
      const std::unique_ptr<char[]> copy(new char[n ? n : 1]);
      std::memcpy(copy.get(), full.data(), n);
      const Result r = call_id({copy.get(), n});
      if (n < start_line) {
        CHECK(r.status == SipStatus::not_sip);
      } else if (n >= complete) {
        CHECK(r.status == SipStatus::found);
        CHECK(r.value == value);
      } else {
        CHECK(r.status != SipStatus::not_sip);
      }
    }
  }
}

TEST_CASE("to_string(SipStatus)") {
  CHECK(to_string(SipStatus::found) == "found");
  CHECK(to_string(SipStatus::not_sip) == "not_sip");
  CHECK(to_string(SipStatus::absent) == "absent");
  CHECK(to_string(SipStatus::empty) == "empty");
  CHECK(to_string(SipStatus::too_long) == "too_long");
  CHECK(to_string(SipStatus::conflicting) == "conflicting");
}
