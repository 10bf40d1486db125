// The BPF Call-ID parser (sipvsd_parse_test) against the engine's
// (find_sip_header with kCallId): for every message, carried in a UDP frame,
// the same status and, when found, the same bytes. The fast path and NFQUEUE
// must key a template alike, or a call's packets would go two ways.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parse/packet_view.hpp"
#include "engine/parse/sip_header.hpp"
#include "fast_path_fixture.hpp"
#include "message_sources.hpp"

using namespace fp_test;

// The BPF statuses mirror the engine's, in order.
static_assert(SIPVSD_FP_FOUND == static_cast<int>(sipvs::SipStatus::found));
static_assert(SIPVSD_FP_NOT_SIP == static_cast<int>(sipvs::SipStatus::not_sip));
static_assert(SIPVSD_FP_ABSENT == static_cast<int>(sipvs::SipStatus::absent));
static_assert(SIPVSD_FP_EMPTY == static_cast<int>(sipvs::SipStatus::empty));
static_assert(SIPVSD_FP_TOO_LONG == static_cast<int>(sipvs::SipStatus::too_long));
static_assert(SIPVSD_FP_CONFLICTING == static_cast<int>(sipvs::SipStatus::conflicting));
static_assert(SIPVSD_FP_MAX_CALL_ID == sipvs::kMaxSipValue);

namespace {

// BPF_PROG_TEST_RUN copies a frame into one page, headroom and tailroom
// included: bigger frames cannot be run. Nor can IPv4 or IPv6 frames
// shorter than the fixed IP header (the kernel checks that much).
constexpr std::size_t kMaxFrame = 3500;

bool runnable(const Bytes& frame) {
  if (frame.size() > kMaxFrame) return false;
  const uint16_t ethertype = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
  const std::size_t ip_header = ethertype == kEthIpv4 ? 20 : ethertype == kEthIpv6 ? 40 : 0;
  return frame.size() >= kEthHeader + ip_header;
}
constexpr std::size_t kReportedDifferences = 10;

struct Expected {
  uint32_t status;
  std::string value;
};

Expected engine_call_id(std::string_view payload) {
  if (payload.size() > SIPVSD_FP_MAX_PAYLOAD) return {SIPVSD_FP_OVERSIZE, {}};
  sipvs::SipScratch scratch{};
  std::string_view value;
  const sipvs::SipStatus status = sipvs::find_sip_header(payload, sipvs::kCallId, scratch, value);
  return {static_cast<uint32_t>(status), std::string(value)};
}

// What the fast path makes of a raw IP packet: the engine's packet parser
// says whether it is a whole UDP datagram; the fast path reads IPv6 only
// with UDP right after the fixed header.
Expected engine_packet_call_id(const Bytes& packet) {
  sipvs::PacketView view;
  if (sipvs::parse_packet(packet, view) != sipvs::PacketStatus::ok) return {SIPVSD_FP_NOT_PARSED, {}};
  if ((packet[0] >> 4) == 6 && packet[6] != 17) return {SIPVSD_FP_NOT_PARSED, {}};
  return engine_call_id(view.payload);
}

std::string status_name(uint32_t s) {
  static const char* const kNames[] = {"found",    "not_sip",     "absent",   "empty",
                                       "too_long", "conflicting", "oversize", "not_parsed"};
  return s < std::size(kNames) ? kNames[s] : "unknown";
}

// Bytes as a C string literal would show them.
std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes.substr(0, 600)) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\\')
      out += "\\\\";
    else if (c >= 0x20 && c < 0x7f)
      out += c;
    else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return bytes.size() > 600 ? out + "... (" + std::to_string(bytes.size()) + " bytes)" : out;
}

// Runs frames through sipvsd_parse_test and tallies, per source, what was
// compared; the first differences are reported in full.
class Comparison {
 public:
  explicit Comparison(FastPath& fast_path) : fast_path_(fast_path) {}

  // `payload` in an IPv4 frame, and in an IPv6 one too if asked.
  void payload(const std::string& source, std::string_view payload, bool ipv6_too) {
    const Expected expected = engine_call_id(payload);
    compare(source + " (IPv4)", udp_frame(payload), expected, payload);
    if (ipv6_too) {
      const UdpFrame v6{.src = "2001:db8::1", .dst = "2001:db8:0:2::100"};
      compare(source + " (IPv6)", udp_frame(payload, v6), expected, payload);
    }
  }

  // A raw IPv4 or IPv6 packet in an Ethernet frame.
  void packet(const std::string& source, const Bytes& ip) {
    if (ip.empty() || ((ip[0] >> 4) != 4 && (ip[0] >> 4) != 6)) return;
    const Bytes frame = ethernet_frame((ip[0] >> 4) == 4 ? kEthIpv4 : kEthIpv6, ip);
    compare(source, frame, engine_packet_call_id(ip), {reinterpret_cast<const char*>(ip.data()), ip.size()});
  }

  std::size_t differences() const { return differences_; }

  void summary() const {
    for (const auto& [source, tally] : tallies_) {
      std::ostringstream s;
      s << source << ": " << tally.compared << " compared";
      if (tally.not_run) s << ", " << tally.not_run << " not run (frames BPF_PROG_TEST_RUN refuses)";
      s << " |";
      for (const auto& [status, n] : tally.statuses) s << " " << status_name(status) << "=" << n;
      MESSAGE(s.str());
    }
  }

 private:
  struct Tally {
    std::size_t compared = 0;
    std::size_t not_run = 0;
    std::map<uint32_t, std::size_t> statuses;
  };

  void compare(const std::string& source, const Bytes& frame, const Expected& expected, std::string_view message) {
    Tally& tally = tallies_[source];
    if (!runnable(frame)) {
      ++tally.not_run;
      return;
    }
    ++tally.compared;
    ++tally.statuses[expected.status];
    const ParseOutcome got = fast_path_.parse(frame);
    // Over the cap the fast path does not parse: only its status is compared.
    const bool same = got.status == expected.status && (got.status != SIPVSD_FP_FOUND || got.value == expected.value);
    if (same) return;
    if (++differences_ <= kReportedDifferences)
      FAIL_CHECK(source << ": engine " << status_name(expected.status) << " \"" << printable(expected.value)
                        << "\", BPF " << status_name(got.status) << " \"" << printable(got.value) << "\"\n  message \""
                        << printable(message) << "\"");
  }

  FastPath& fast_path_;
  std::map<std::string, Tally> tallies_;
  std::size_t differences_ = 0;
};

}  // namespace

TEST_CASE("both programs pass the verifier") {
  FastPath fast_path;
  MESSAGE("verified instructions: sipvsd_ingress " << fast_path.ingress_verified_insns() << ", sipvsd_parse_test "
                                                   << fast_path.parse_test_verified_insns());
}

TEST_CASE("the engine's parser tests' messages") {
  const std::vector<std::string> messages = recorded_messages();
  // main.cpp ran test_parse_sip.cpp and test_parse_rfc4475.cpp first: they parse hundreds.
  REQUIRE_MESSAGE(messages.size() > 100, "the parser tests' messages were not recorded (main.cpp runs them first)");
  FastPath fast_path;
  Comparison comparison(fast_path);
  for (const std::string& m : messages) comparison.payload("parser tests", m, true);
  comparison.summary();
  CHECK(comparison.differences() == 0);
}

TEST_CASE("the fuzz corpus: each file as a payload, and as an IP packet") {
  const std::vector<CorpusFile> files = read_corpus();
  for (const std::string& dir : corpus_dirs()) MESSAGE("corpus directory: " << dir);
  FastPath fast_path;
  Comparison comparison(fast_path);
  for (const CorpusFile& f : files) {
    comparison.payload("fuzz corpus payloads", f.bytes, false);
    comparison.packet("fuzz corpus IP packets", Bytes(f.bytes.begin(), f.bytes.end()));
  }
  comparison.summary();
  CHECK(comparison.differences() == 0);
}

// $SIPVSD_FP_GENERATED and $SIPVSD_FP_SEED change the count and the seed (for longer runs by hand).
TEST_CASE("generated messages: folding, odd names, line ends, the 255-byte cap, repeats, mutations") {
  const char* count = std::getenv("SIPVSD_FP_GENERATED");
  const char* seed = std::getenv("SIPVSD_FP_SEED");
  const unsigned long messages = count ? std::stoul(count) : 100'000;
  SipMessageGenerator generator(seed ? static_cast<uint32_t>(std::stoul(seed)) : 20240611);
  MESSAGE("generated messages: " << messages << ", seed " << std::string(seed ? seed : "20240611"));
  FastPath fast_path;
  Comparison comparison(fast_path);
  for (unsigned long i = 0; i < messages; ++i) comparison.payload("generated", generator.next(), i % 8 == 0);
  comparison.summary();
  CHECK(comparison.differences() == 0);
}

TEST_CASE("payloads at the 2048-byte cap") {
  FastPath fast_path;
  for (const std::size_t size : {2047u, 2048u, 2049u, 2100u}) {
    CAPTURE(size);
    // The Call-ID is the payload's last line, its last byte the payload's last byte.
    const std::string head = "INVITE sip:x@y SIP/2.0\r\nX-Pad: ";
    const std::string tail = "\r\nCall-ID: at-the-end@h";
    const std::string m = head + std::string(size - head.size() - tail.size(), 'p') + tail;
    REQUIRE(m.size() == size);
    const ParseOutcome got = fast_path.parse(udp_frame(m));
    if (size <= SIPVSD_FP_MAX_PAYLOAD) {
      CHECK(got.status == SIPVSD_FP_FOUND);
      CHECK(got.value == "at-the-end@h");
    } else {
      CHECK(got.status == SIPVSD_FP_OVERSIZE);
    }
  }
}

TEST_CASE("frames the fast path does not read whole are NOT_PARSED") {
  FastPath fast_path;
  const std::string m = "INVITE sip:x@y SIP/2.0\r\nCall-ID: c@h\r\n\r\n";
  CHECK(fast_path.parse(udp_frame(m)).status == SIPVSD_FP_FOUND);
  CHECK(fast_path.parse(udp_frame(m, {.ipv4_fragment = 0x2000})).status == SIPVSD_FP_NOT_PARSED);
  CHECK(fast_path.parse(udp_frame(m, {.ipv4_fragment = 0x0010})).status == SIPVSD_FP_NOT_PARSED);
  CHECK(fast_path.parse(udp_frame(m, {.udp_length_delta = 1})).status == SIPVSD_FP_NOT_PARSED);
  CHECK(fast_path.parse(udp_frame(m, {.udp_length_delta = -static_cast<int>(m.size()) - 1})).status ==
        SIPVSD_FP_NOT_PARSED);
  CHECK(fast_path.parse(udp_frame(m, {.ip_length_delta = 1})).status == SIPVSD_FP_NOT_PARSED);
  // A shorter UDP length bounds the payload, as in the engine: here to the start line.
  const ParseOutcome start_line_only = fast_path.parse(udp_frame(m, {.udp_length_delta = -17}));
  CHECK(start_line_only.status == SIPVSD_FP_ABSENT);
  const UdpFrame v6{.src = "2001:db8::1", .dst = "2001:db8::2", .ip_length_delta = 1};
  CHECK(fast_path.parse(udp_frame(m, v6)).status == SIPVSD_FP_NOT_PARSED);
  CHECK(fast_path.parse(ethernet_frame(0x0806, Bytes(28, 0))).status == SIPVSD_FP_NOT_PARSED);
}
