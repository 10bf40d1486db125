#include "message_sources.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace fp_test {
namespace {

bool recording = false;

std::set<std::string>& recorded() {
  static std::set<std::string> messages;
  return messages;
}

}  // namespace

void set_recording(bool on) { recording = on; }

std::vector<std::string> recorded_messages() { return {recorded().begin(), recorded().end()}; }

std::vector<std::string>& corpus_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

std::vector<CorpusFile> read_corpus() {
  namespace fs = std::filesystem;
  std::vector<CorpusFile> files;
  for (const std::string& dir : corpus_dirs()) {
    REQUIRE_MESSAGE(fs::is_directory(dir), "corpus directory not found: " << dir);
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      files.push_back({e.path().string(), bytes.str()});
    }
  }
  // A stable order, whatever the directory listing's.
  std::sort(files.begin(), files.end(), [](const CorpusFile& a, const CorpusFile& b) { return a.path < b.path; });
  return files;
}

// ---- SipMessageGenerator ----

std::string SipMessageGenerator::next() {
  line_style_ = static_cast<int>(pick(10));
  std::string m = message();
  if (chance(6)) m = pad(std::move(m));
  if (chance(15)) m = mutate(std::move(m));
  return m;
}

std::string SipMessageGenerator::message() {
  if (chance(1)) return "";
  if (chance(1)) return text(pick(64));  // arbitrary bytes
  std::string m = start_line() + line_end();
  const uint32_t call_ids = chance(15) ? 0 : chance(65) ? 1 : 2 + pick(2);
  const uint32_t others = pick(8);
  const uint32_t empty_line_at = chance(8) ? pick(call_ids + others + 1) : ~0u;  // ends the headers early
  std::vector<std::string> first;
  for (uint32_t i = 0, ids = 0; i < call_ids + others; ++i) {
    if (i == empty_line_at) m += line_end();
    if (ids < call_ids && (pick(call_ids + others - i) < call_ids - ids)) {
      std::vector<std::string> pieces = ids == 0 ? value_pieces() : repeat_of(first);
      if (ids++ == 0) first = pieces;
      m += header(header_name(), pieces);
    } else {
      m += other_header();
    }
  }
  switch (pick(10)) {
    case 0:
      break;  // the last header line ends the message
    case 1:
      return m.empty() ? m : m.substr(0, m.size() - 1);  // without its last byte (LF, or CR)
    case 2:
      return m + "\r";  // a CR at the very end
    default:
      return m + line_end() + body();
  }
  return m;
}

std::string SipMessageGenerator::start_line() {
  static const char* const kGood[] = {"INVITE sip:bob@biloxi.example.com SIP/2.0",
                                      "SIP/2.0 200 OK",
                                      "ACK sip:bob@192.0.2.4 SIP/2.0",
                                      "BYE sip:alice@pc33.atlanta.example.com SIP/2.0",
                                      "sip/2.0 180 ringing",
                                      "invite sip:x@y sip/2.0",
                                      "SIP/2.0 404",
                                      "SIP/2.0 100 ",
                                      "SIP/2.0 999 Whatever  you like",
                                      "NEWMETHOD tel:+1-201-555-0123 SIP/2.0",
                                      "!odd-Method.%*_+`'~ sip:x SIP/2.0",
                                      "OPTIONS sip:a\tb\x01"
                                      "c SIP/2.0",
                                      "REGISTER sip:example.com SiP/2.0",
                                      "SIP/2.0 000 \xff\xfe"};
  static const char* const kBad[] = {"SIP/2.0 20 OK",
                                     "SIP/2.0 2000 OK",
                                     "SIP/2.0  200 OK",
                                     "SIP/3.0 200 OK",
                                     "INVITE sip:x SIP/3.0",
                                     "INVITE sip:x SIP/2.0 ",
                                     "INVITE sip:x SIP/2.01",
                                     "INVITE  sip:x SIP/2.0",
                                     "INVITE sip:x",
                                     "INVITE SIP/2.0",
                                     "INV(ITE sip:x SIP/2.0",
                                     " INVITE sip:x SIP/2.0",
                                     "GET / HTTP/1.1",
                                     "HTTP/1.1 200 OK",
                                     "INVITE\tsip:x SIP/2.0",
                                     "INVITE sip:a b SIP/2.0",
                                     "SIP/2.0 200OK",
                                     "SIP/2.0 2x0 OK",
                                     "",
                                     "SIP/2.0",
                                     "INVITE sip:x SIP/2.0\r",
                                     "INVITE sip:x  SIP/2.0",
                                     "INVITE sip:x SIP/2.",
                                     "SIP/2.0 200\tOK"};
  if (chance(12)) {
    std::string bad = one_of(kBad);
    if (chance(20)) bad.insert(pick(static_cast<uint32_t>(bad.size()) + 1), 1, '\0');
    return bad;
  }
  std::string good = one_of(kGood);
  if (chance(5)) good.insert(good.find(' ') + 1, text(pick(40)));  // odd bytes after the method's SP
  return good;
}

std::string SipMessageGenerator::line_end() {
  static const char* const kMixed[] = {"\r\n", "\n", "\r", "\r\r\n", "\n\r", "\r\n"};
  if (line_style_ < 6) return "\r\n";
  if (line_style_ < 8) return "\n";
  return one_of(kMixed);
}

std::string SipMessageGenerator::wsp_run(uint32_t max) {
  std::string s;
  for (uint32_t n = pick(max + 1); n > 0; --n) s += chance(70) ? ' ' : '\t';
  return s;
}

std::string SipMessageGenerator::header_name() {
  using namespace std::string_view_literals;
  static const std::string_view kNames[] = {"Call-ID", "Call-ID", "Call-ID", "call-id", "CALL-ID",
                                            "cALL-iD", "i",       "i",       "I"};
  static const std::string_view kNearMisses[] = {
      "Call-IDx", "Call-I", "Call-ID-Extra", "X-Call-ID", "Call-Info", "i-foo",  "ix",       "CallID", "Call_ID",
      "Call ID",  "C",      "Call-ID\0"sv,   "\0i"sv,     "j",         "Cal-ID", "Call-Id\r"};
  if (chance(10)) return std::string(one_of(kNearMisses));
  std::string name(one_of(kNames));
  if (chance(10))
    for (char& c : name) c = chance(50) ? static_cast<char>(std::toupper(c)) : static_cast<char>(std::tolower(c));
  return name;
}

// Value bytes: mostly token-like, sometimes SP/TAB inside, NUL, a lone CR, ':' or high bytes.
std::string SipMessageGenerator::text(std::size_t size) {
  static const char kCommon[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_";
  static const char kOdd[] = {' ', '\t', '\0', '\r', ':', '\x7f', '\x80', '\xff', ';', '"', '<'};
  std::string s;
  for (std::size_t i = 0; i < size; ++i) s += chance(4) ? kOdd[pick(sizeof(kOdd))] : kCommon[pick(sizeof(kCommon) - 1)];
  return s;
}

// The pieces of a value, one per line (the first after the colon): empty
// ones, whitespace around them, lengths around the 255-byte cap, joined too.
std::vector<std::string> SipMessageGenerator::value_pieces() {
  std::size_t total;
  switch (pick(20)) {
    case 0:
    case 1:
      total = 0;
      break;
    case 2:
    case 3:
    case 4:
    case 5:
      total = 250 + pick(11);
      break;  // around the cap
    case 6:
      total = 261 + pick(140);
      break;
    case 7:
    case 8:
      total = 41 + pick(209);
      break;
    default:
      total = 1 + pick(40);
      break;
  }
  const uint32_t count = chance(70) ? 1 : 2 + pick(3);
  std::vector<std::string> pieces;
  std::size_t left = total;
  for (uint32_t i = 0; i < count; ++i) {
    // Joined with one SP each: the pieces and their separators add up to `total`.
    const std::size_t size = i + 1 == count ? left : std::min<std::size_t>(left, pick(static_cast<uint32_t>(left) + 1));
    pieces.push_back(chance(10) ? "" : text(size));
    left -= std::min(left, size + 1);
  }
  return pieces;
}

std::string SipMessageGenerator::header(const std::string& name, const std::vector<std::string>& pieces) {
  std::string h = name + (chance(20) ? wsp_run(3) : "") + ":";
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) h += (chance(60) ? " " : chance(50) ? "\t" : " " + wsp_run(3));  // a continuation line
    h += (chance(50) ? wsp_run(2) : "") + pieces[i] + (chance(15) ? wsp_run(3) : "");
    if (chance(5)) h += line_end() + wsp_run(2) + " ";  // an empty continuation line
    h += line_end();
  }
  return h;
}

// A later Call-ID: the same pieces, the same value folded elsewhere, another one, or an empty one.
std::vector<std::string> SipMessageGenerator::repeat_of(const std::vector<std::string>& first) {
  switch (pick(10)) {
    case 0:
    case 1:
      return value_pieces();
    case 2:
      return {""};
    case 3:
    case 4: {
      std::string joined;
      for (const std::string& p : first)
        if (!p.empty()) joined += (joined.empty() ? "" : " ") + p;
      std::vector<std::string> refolded;
      std::size_t from = 0;
      for (std::size_t sp = joined.find(' '); sp != std::string::npos; sp = joined.find(' ', sp + 1)) {
        if (!chance(50)) continue;
        refolded.push_back(joined.substr(from, sp - from));
        from = sp + 1;
      }
      refolded.push_back(joined.substr(from));
      return refolded;
    }
    default:
      return first;
  }
}

std::string SipMessageGenerator::other_header() {
  static const char* const kHeaders[] = {
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
      "Max-Forwards: 70",
      "To: Bob <sip:bob@biloxi.example.com>",
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
      "CSeq: 314159 INVITE",
      "Contact: <sip:alice@pc33.atlanta.example.com>",
      "Call-Info: <http://wwww.example.com/alice/photo.jpg> ;purpose=icon",
      "Content-Length: 0",
      "Subject: one",
      "l: 0",
      "c: application/sdp",
      "X-Session-ID: call-id: not this",
  };
  std::string h = one_of(kHeaders);
  if (chance(10)) h += line_end() + wsp_run(2) + "\tfolded Call-ID: no";  // a continuation of another header
  return h + line_end();
}

std::string SipMessageGenerator::body() {
  static const char* const kBodies[] = {
      "v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\ns=-\r\n",
      "Call-ID: in-the-body@h\r\n",
      "i: body\n\nCall-ID: x\n",
      "",
  };
  return one_of(kBodies);
}

// Grows the message to around SIPVSD_FP_MAX_PAYLOAD (2048) bytes, below or
// above it, with a header line in front of the rest, so that the Call-ID
// comes late in the payload.
std::string SipMessageGenerator::pad(std::string m) {
  const std::size_t target = 1990 + pick(111);
  const std::size_t line = m.find('\n');
  if (line == std::string::npos || m.size() + 12 > target) return m;
  const std::size_t needed = target - m.size();
  m.insert(line + 1, "X-Pad: " + std::string(needed - 9, 'p') + "\r\n");
  return m;
}

// A few bytes changed, inserted or removed, or the message cut short.
std::string SipMessageGenerator::mutate(std::string m) {
  static const char kBytes[] = {'\r', '\n', ' ', '\t', ':', '\0', 'i', 'I', 'c', 'C', 'x', '\xe9'};
  for (uint32_t n = 1 + pick(3); n > 0 && !m.empty(); --n) {
    const std::size_t at = pick(static_cast<uint32_t>(m.size()));
    const char b = kBytes[pick(sizeof(kBytes))];
    switch (pick(5)) {
      case 0:
        m[at] = b;
        break;
      case 1:
        m.insert(at, 1, b);
        break;
      case 2:
        m.erase(at, 1);
        break;
      case 3:
        m.resize(at);
        break;
      default:
        m[at] = static_cast<char>(pick(256));
        break;
    }
  }
  return m;
}

}  // namespace fp_test

namespace sipvs {

SipStatus recording_find_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                                    std::string_view& value) {
  if (fp_test::recording) fp_test::recorded().emplace(message);
  return find_sip_header(message, name, scratch, value);
}

}  // namespace sipvs
