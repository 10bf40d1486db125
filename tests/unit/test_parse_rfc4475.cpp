// Header finding against the cases RFC 4475 (SIP torture tests) describes.
// The messages are written for this test, after the RFC's descriptions: each
// reproduces the difficulty of one torture case that matters for finding a
// header, and the test pins the exact Call-ID (or status) we must return.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "engine/parse/sip_header.hpp"

using namespace sipvs;
using namespace std::string_literals;

namespace {

struct Found {
  SipStatus status;
  std::string value;
};

Found header(std::string_view m, SipHeaderName name = kCallId) {
  SipScratch scratch{};
  std::string_view v;
  const SipStatus s = find_sip_header(m, name, scratch, v);
  return {s, std::string(v)};
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("wsinv: short tortuous INVITE (odd whitespace, compact forms, folding, unknown headers)") {
  const std::string m =
      "INVITE sip:carol@chicago.example.com;oddparam SIP/2.0\r\n"
      "tO  :\r\n"
      "   sip:carol@chicago.example.com ;   tag =  77x1\r\n"
      "fRoM\t:   \"A \\\"quoted\\\" name\\\\\"   <sip:ted@example.org>\r\n"
      " ;\r\n"
      "    tag = a9z\r\n"
      "mAx-FoRwArDs:   00042\r\n"
      "i  :\t torture.wsinv.7d2ka91@198.51.100.23\t  \r\n"
      "l\t:  151\r\n"
      "CSEQ: 00017\r\n"
      "\tINVITE\r\n"
      "v    : SIP   /  2.0\r\n"
      "  / UDP\r\n"
      "      198.51.100.23;branch=z9hG4bKfold1\r\n"
      "s    :\r\n"
      "X-Unheard-Of:   some value\r\n"
      "  continued on the next line\r\n"
      "X-Odd-Value: ,;,;;,,;\r\n"
      "c: application/sdp\r\n"
      "Route:\r\n"
      "\t<sip:proxy.example.net;lr;foo=bar;flag>\r\n"
      "m:\"Display \\\"q\\\"\" <sip:ted@example.org> ; p1 =\r\n"
      "     v1 ;\r\n"
      "  p2 ; q = 0.5\r\n"
      "\r\n"
      "v=0\r\n"
      "o=ted 1 1 IN IP4 198.51.100.23\r\n"
      "s=-\r\n"
      "c=IN IP4 198.51.100.23\r\n"
      "t=0 0\r\n"
      "m=audio 4000 RTP/AVP 0\r\n";
  const Found f = header(m);
  CHECK(f.status == SipStatus::found);
  CHECK(f.value == "torture.wsinv.7d2ka91@198.51.100.23");
  // The folded headers of the same message, joined by §7.3.1.
  CHECK(header(m, {"To", 't'}).value == "sip:carol@chicago.example.com ;   tag =  77x1");
  CHECK(header(m, {"CSeq", 0}).value == "00017 INVITE");
  CHECK(header(m, {"Via", 'v'}).value == "SIP   /  2.0 / UDP 198.51.100.23;branch=z9hG4bKfold1");
  CHECK(header(m, {"X-Unheard-Of", 0}).value == "some value continued on the next line");
  CHECK(header(m, {"Contact", 'm'}).value == "\"Display \\\"q\\\"\" <sip:ted@example.org> ; p1 = v1 ; p2 ; q = 0.5");
  CHECK(header(m, {"Subject", 's'}).status == SipStatus::empty);
  CHECK(header(m, {"Content-Length", 'l'}).value == "151");
}

TEST_CASE("wsinv variant: the Call-ID itself starts on a continuation line") {
  const std::string m =
      "INVITE sip:carol@chicago.example.com SIP/2.0\r\n"
      "Call-ID  \t:\r\n"
      "  \t fold-first.wsinv@198.51.100.23 \r\n"
      "CSeq: 1 INVITE\r\n"
      "\r\n";
  CHECK(header(m).value == "fold-first.wsinv@198.51.100.23");
}

TEST_CASE("intmeth: unusual method, URI, header-name and Call-ID characters") {
  const std::string m =
      "!odd-Method0123456789_*+`.%indeed'~ "
      "sip:1_odd.URI~(to-be!sure)&isn't+it$/weird?,/;;*:&it+has=1,weird!*pa$wo~d_too.(isn't-it)@example.com "
      "SIP/2.0\r\n"
      "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
      "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_odd@example.com>\r\n"s
      "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\"\r\n"
      "Call-ID: intmeth.w0rd%ZK-!.*_+'@w0rd`~()<>:\\\"/[]?{}\r\n"
      "CSeq: 139122385 !odd-Method0123456789_*+`.%indeed'~\r\n"
      "Max-Forwards: 255\r\n"
      "extensionHeader-!.%*+_`'~: \xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).status == SipStatus::found);
  CHECK(header(m).value == "intmeth.w0rd%ZK-!.*_+'@w0rd`~()<>:\\\"/[]?{}");
  CHECK(header(m, {"extensionHeader-!.%*+_`'~", 0}).value == "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");
}

TEST_CASE("esc01: escaped characters in the Request-URI and header values") {
  const std::string m =
      "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n"
      "To: sip:%75se%72@example.com\r\n"
      "From: <sip:I%20have%20spaces@example.net>;tag=938\r\n"
      "Max-Forwards: 87\r\n"
      "i: esc01.239409asdfakjkn23onasd0-3234\r\n"
      "CSeq: 234234 INVITE\r\n"
      "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\n"
      "C: application/sdp\r\n"
      "Contact:\r\n"
      "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "esc01.239409asdfakjkn23onasd0-3234");
}

TEST_CASE("escnull: escaped NULs in URIs, and real NUL bytes in values") {
  const std::string escaped =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "To: sip:null-%00-null@example.com\r\n"
      "From: sip:null-%00-null@example.com;tag=839923423\r\n"
      "Max-Forwards: 70\r\n"
      "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n"
      "CSeq: 14398234 REGISTER\r\n"
      "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\r\n"
      "Contact: <sip:%00@host5.example.com>\r\n"
      "Contact: <sip:%00%00@host5.example.com>\r\n"
      "L:0\r\n"
      "\r\n";
  CHECK(header(escaped).value == "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd");
  CHECK(header(escaped, {"Contact", 'm'}).status == SipStatus::conflicting);

  const std::string raw =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "To: <sip:a\0b@example.com>\r\n"
      "\0X-Starts-With-Nul: z\r\n"
      "Call-ID: raw\0nul@example.com\r\n"
      "CSeq: 1 REGISTER\r\n"
      "\r\n"s;
  const Found f = header(raw);
  CHECK(f.status == SipStatus::found);
  CHECK(f.value == "raw\0nul@example.com"s);
}

TEST_CASE("lwsdisp: no LWS between display name and <") {
  const std::string m =
      "OPTIONS sip:user@example.com SIP/2.0\r\n"
      "To: sip:user@example.com\r\n"
      "From: caller<sip:caller@example.com>;tag=323\r\n"
      "Max-Forwards: 70\r\n"
      "Call-ID: lwsdisp.1234abcd@funky.example.com\r\n"
      "CSeq: 60 OPTIONS\r\n"
      "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\n"
      "l: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "lwsdisp.1234abcd@funky.example.com");
  CHECK(header(m, {"From", 'f'}).value == "caller<sip:caller@example.com>;tag=323");
}

TEST_CASE("longreq: long values and many headers") {
  const std::string long_call_id = "longreq.one" + repeat("really", 40) + "longcallid";  // 261 bytes
  const std::string fits = "longreq.two" + repeat("really", 39) + "long";               // 249 bytes
  REQUIRE(long_call_id.size() > kMaxSipValue);
  REQUIRE(fits.size() <= kMaxSipValue);
  std::string headers =
      "To: \"I have a user name of " + repeat("extreme", 50) + " proportion\"<sip:user@example.com:6000;"
      "unknownparam=" + repeat("verylong", 40) + ">\r\n"
      "From: sip:" + repeat("amazinglylongcallername", 20) + "@example.net;tag=12" + repeat("982", 50) + "\r\n";
  for (int i = 0; i < 60; ++i)
    headers += "Via: SIP/2.0/TCP sip" + std::to_string(i) + ".example.com;branch=z9hG4bK" + repeat("x", 120) + "\r\n";
  headers += "Max-Forwards: 70\r\n";
  headers += "X-" + repeat("Long", 100) + ": " + repeat("v", 4000) + "\r\n";
  headers += "CSeq: 3882340 INVITE\r\nContent-Length: 0\r\n";
  const std::string start = "INVITE sip:user@example.com SIP/2.0\r\n";

  const std::string ok = start + headers + "Call-ID: " + fits + "\r\n\r\n";
  CHECK(header(ok).status == SipStatus::found);
  CHECK(header(ok).value == fits);
  CHECK(header(ok, {"X-" + repeat("Long", 100), 0}).status == SipStatus::too_long);

  const std::string too_long = start + headers + "Call-ID: " + long_call_id + "\r\n\r\n";
  CHECK(header(too_long).status == SipStatus::too_long);
}

TEST_CASE("dblreq: a second message after the first one's empty line is ignored") {
  const std::string m =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "To: sip:j.user@example.com\r\n"
      "From: sip:j.user@example.com;tag=43251j3j324\r\n"
      "Max-Forwards: 8\r\n"
      "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\r\n"
      "Contact: sip:j.user@host.example.com\r\n"
      "CSeq: 8 REGISTER\r\n"
      "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\r\n"
      "Content-Length: 0\r\n"
      "\r\n"
      "INVITE sip:joe@example.com SIP/2.0\r\n"
      "t: sip:joe@example.com\r\n"
      "From: sip:caller@example.net;tag=141334\r\n"
      "Max-Forwards: 8\r\n"
      "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\r\n"
      "CSeq: 8 INVITE\r\n"
      "\r\n";
  CHECK(header(m).status == SipStatus::found);
  CHECK(header(m).value == "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

TEST_CASE("clerr: Content-Length larger than the message") {
  const std::string m =
      "INVITE sip:user@example.com SIP/2.0\r\n"
      "Max-Forwards: 80\r\n"
      "To: sip:j.user@example.com\r\n"
      "From: sip:caller@example.net;tag=93942939o2\r\n"
      "Contact: <sip:caller@hungry.example.net>\r\n"
      "Call-ID: clerr.0ha0isndaksdjweiafasdk3\r\n"
      "CSeq: 8 INVITE\r\n"
      "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: 9999\r\n"
      "\r\n"
      "v=0\r\n"
      "o=mhandley 29739 7272939 IN IP4 192.0.2.155\r\n";
  CHECK(header(m).value == "clerr.0ha0isndaksdjweiafasdk3");
}

TEST_CASE("ltgtruri: Request-URI in angle brackets still has a well-formed Call-ID") {
  const std::string m =
      "INVITE <sip:user@example.com> SIP/2.0\r\n"
      "To: sip:user@example.com\r\n"
      "From: sip:caller@example.net;tag=39291\r\n"
      "Max-Forwards: 23\r\n"
      "Call-ID: ltgtruri.1@192.0.2.5\r\n"
      "CSeq: 1 INVITE\r\n"
      "Via: SIP/2.0/UDP 192.0.2.5\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "ltgtruri.1@192.0.2.5");
}

TEST_CASE("lwsruri / lwsstart: whitespace inside the request line is not a request line") {
  const std::string headers = "Call-ID: lws.1@192.0.2.5\r\nCSeq: 1 INVITE\r\n\r\n";
  CHECK(header("INVITE sip:user@example.com; lr SIP/2.0\r\n" + headers).status == SipStatus::not_sip);
  CHECK(header("INVITE  sip:user@example.com  SIP/2.0\r\n" + headers).status == SipStatus::not_sip);
  CHECK(header("INVITE\tsip:user@example.com SIP/2.0\r\n" + headers).status == SipStatus::not_sip);
}

TEST_CASE("badaspec: spaces inside addr-specs do not disturb the Call-ID") {
  const std::string m =
      "OPTIONS sip:user@example.org SIP/2.0\r\n"
      "Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\r\n"
      "Max-Forwards: 70\r\n"
      "From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\r\n"
      "To: \"Watson, Thomas\" < sip:t.watson@example.org >\r\n"
      "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\r\n"
      "Accept: application/sdp\r\n"
      "CSeq: 3923239 OPTIONS\r\n"
      "l: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3");
}

TEST_CASE("mcl01: multiple Content-Length values") {
  const std::string m =
      "OPTIONS sip:user@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\r\n"
      "To: sip:user@example.com\r\n"
      "From: sip:other@example.net;tag=3923942\r\n"
      "Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\r\n"
      "CSeq: 15932 OPTIONS\r\n"
      "Content-Length: 13\r\n"
      "Max-Forwards: 60\r\n"
      "Content-Length: 5\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "There's no way to know how many octets are supposed to be here.\r\n";
  CHECK(header(m).value == "mcl01.fhn2323orihawfdoa3o4r52o3irsdf");
  CHECK(header(m, {"Content-Length", 'l'}).status == SipStatus::conflicting);
}

TEST_CASE("bcast: a response scattershot with headers that do not belong") {
  const std::string m =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
      "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n"
      "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\r\n"
      "CSeq: 35 INVITE\r\n"
      "From: sip:user@example.com;tag=11141343\r\n"
      "To: sip:user@example.edu;tag=2229\r\n"
      "Max-Forwards: 70\r\n"
      "Expires: 1000\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "bcast.0384840201234ksdfak3j2erwedfsASdf");
}

TEST_CASE("sdp01: body lines that look like headers are not headers") {
  const std::string m =
      "INVITE sip:user@example.com SIP/2.0\r\n"
      "To: sip:j_user@example.com\r\n"
      "Contact: <sip:caller@host15.example.net>\r\n"
      "From: sip:caller@example.net;tag=234\r\n"
      "Max-Forwards: 5\r\n"
      "Call-ID: sdp01.ndaksdj9342dasdd\r\n"
      "Accept: text/nobodyKnowsThis\r\n"
      "CSeq: 8 INVITE\r\n"
      "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\r\n"
      "Content-Length: 150\r\n"
      "Content-Type: application/sdp\r\n"
      "\r\n"
      "v=0\r\n"
      "o=mhandley 29739 7272939 IN IP4 192.0.2.5\r\n"
      "s=-\r\n"
      "i=Call-ID: not.a.header\r\n"
      "c=IN IP4 192.0.2.5\r\n"
      "t=0 0\r\n"
      "m=audio 49217 RTP/AVP 0\r\n"
      "i: not.a.header.either\r\n";
  CHECK(header(m).value == "sdp01.ndaksdj9342dasdd");
}

TEST_CASE("unreason: unusual reason phrase (UTF-8, symbols)") {
  const std::string m =
      "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xe2\x89\x88 \xce\xb1\xce\xb2 \xf0\x9f\x98\x80 ~!@#$%^&*()\r\n"
      "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
      "Call-ID: unreason.1234ksdfak3j2erwedfsASdf\r\n"
      "CSeq: 35 INVITE\r\n"
      "From: sip:user@example.com;tag=11141343\r\n"
      "To: sip:user@example.edu;tag=2229\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "unreason.1234ksdfak3j2erwedfsASdf");
}

TEST_CASE("noreason: status line without a reason phrase") {
  const std::string headers =
      "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\n"
      "Call-ID: noreason.asndj203insdf99223ndf\r\n"
      "CSeq: 35 INVITE\r\n"
      "From: <sip:user@example.com>;tag=39ansfi3\r\n"
      "To: <sip:user@example.edu>;tag=902jndnke3\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header("SIP/2.0 100 \r\n" + headers).value == "noreason.asndj203insdf99223ndf");
  CHECK(header("SIP/2.0 100\r\n" + headers).value == "noreason.asndj203insdf99223ndf");
}

TEST_CASE("scalar02 / scalarlg: negative and overlarge scalar values") {
  const std::string m =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\n"
      "To: <sip:user@example.com>\r\n"
      "From: <sip:user@example.com>;tag=239232jh3\r\n"
      "CSeq: 36893488147419103232 REGISTER\r\n"
      "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\n"
      "Max-Forwards: 300\r\n"
      "Expires: 1000000000000000000000000000000000000000\r\n"
      "Contact: <sip:user@host129.example.com>;expires=280297596632815\r\n"
      "Content-Length: -999\r\n"
      "\r\n";
  CHECK(header(m).value == "scalar02.23o0pd9vanlq3wnrlnewofjas9ui32");
  CHECK(header(m, {"Content-Length", 'l'}).value == "-999");
}

TEST_CASE("novelsc: unknown URI scheme in the Request-URI") {
  const std::string m =
      "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n"
      "To: sip:user@example.com\r\n"
      "From: sip:caller@example.net;tag=384\r\n"
      "Max-Forwards: 3\r\n"
      "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\r\n"
      "CSeq: 3923423 OPTIONS\r\n"
      "Via: SIP/2.0/TCP host9.example.net;branch=z9hG4bKkdjuw39234\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  CHECK(header(m).value == "novelsc.asdfasser0q239nwsdfasdkl34");
}

TEST_CASE("badvers: an unknown protocol version is not SIP") {
  const std::string m =
      "OPTIONS sip:t.watson@example.org SIP/7.0\r\n"
      "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"
      "Call-ID: badvers.ba9@c.example.com\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "\r\n";
  CHECK(header(m).status == SipStatus::not_sip);
}
