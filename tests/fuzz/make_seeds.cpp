// Writes the seed corpus of one fuzz target (argv[1]) into argv[2], from
// the inputs the tests use, so that each fuzzer starts deep in its code:
//   packet:  SIP messages as text and wrapped in IPv4/IPv6 UDP packets (with
//            options, extension headers and as fragments);
//   engine:  operation sequences (fuzz_engine.cpp) deciding the unit tests'
//            INVITE and these messages, with expiry, health and changes;
//   loaders: the tests' configuration (and argv[3..], config files such as
//            packaging/sipvsd.json), its state file, a templates file;
//   api:     the requests of tests/api/test_router.cpp;
//   sync:    a datagram of each type, as sent and to be signed again.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../api/fixtures.hpp"
#include "../unit/packet_builder.hpp"
#include "daemon/config/state_file.hpp"
#include "sync/wire.hpp"

namespace {

using Bytes = std::vector<uint8_t>;

const char* const kMessages[] = {
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@example.com>\r\n"
    "From: Alice <sip:alice@example.org>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@192.0.2.1\r\n"
    "CSeq: 314159 INVITE\r\n"
    "X-Session-ID: session-42\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n",
    "SIP/2.0 200 OK\r\n"
    "i:\r\n  folded-before\r\n"
    "X-Session-ID: one\r\n two\r\n\tthree\r\n"
    "\r\n",
    "BYE sip:x@y SIP/2.0\ncALL-iD   :\tlf-only@h \nCall-ID: lf-only@h\n\n",
    "OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\r\ni: b\r\nCall-Info: c\r\ni-foo: d\r\n\r\n",
    "SIP/2.0 100\r\nCall-ID:\r\nX-Session-ID: \r\n",
};

void put16(Bytes& b, std::size_t at, std::size_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

Bytes udp(std::string_view payload) {
  Bytes b(8);
  put16(b, 0, 5060);
  put16(b, 2, 5060);
  put16(b, 4, 8 + payload.size());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes ipv4(const Bytes& l4, const Bytes& options, std::size_t frag) {
  Bytes b(20);
  b[0] = static_cast<uint8_t>(0x40 | (20 + options.size()) / 4);
  put16(b, 2, 20 + options.size() + l4.size());
  put16(b, 6, frag);
  b[8] = 64;
  b[9] = 17;
  b[12] = 192, b[13] = 0, b[14] = 2, b[15] = 1;
  b[16] = 198, b[17] = 51, b[18] = 100, b[19] = 7;
  b.insert(b.end(), options.begin(), options.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// Fixed header, then `ext` (already chained, ending in UDP) and `l4`.
Bytes ipv6(uint8_t next, const Bytes& ext, const Bytes& l4) {
  Bytes b(40);
  b[0] = 0x60;
  put16(b, 4, ext.size() + l4.size());
  b[6] = next;
  b[7] = 64;
  b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8;
  b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8, b[39] = 1;
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

bool write(const std::string& dir, const std::string& name, const Bytes& data) {
  FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

// fuzz::Input's string: 16-bit big-endian length, then the bytes.
void put_text(Bytes& b, std::string_view s) {
  b.push_back(static_cast<uint8_t>(s.size() >> 8));
  b.push_back(static_cast<uint8_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

Bytes text_bytes(uint8_t first, std::string_view s) {
  Bytes b{first};
  b.insert(b.end(), s.begin(), s.end());
  return b;
}

bool packet_seeds(const std::string& dir) {
  // Hop-by-Hop -> Destination Options -> atomic Fragment -> UDP.
  const Bytes chain = {60, 0, 0, 0, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 7};
  const Bytes first_fragment = {17, 0, 0, 1, 0, 0, 0, 9};
  bool ok = true;
  int n = 0;
  for (const std::string_view m : kMessages) {
    const std::string id = std::to_string(n++);
    const Bytes l4 = udp(m);
    ok &= write(dir, "sip-" + id, Bytes(m.begin(), m.end()));
    ok &= write(dir, "v4-" + id, ipv4(l4, {}, 0));
    ok &= write(dir, "v4opt-" + id, ipv4(l4, {0x94, 4, 0, 0, 1, 1, 1, 0}, 0));
    ok &= write(dir, "v4frag-" + id, ipv4(l4, {}, 0x2000));
    ok &= write(dir, "v6-" + id, ipv6(17, {}, l4));
    ok &= write(dir, "v6ext-" + id, ipv6(0, chain, l4));
    ok &= write(dir, "v6frag-" + id, ipv6(44, first_fragment, l4));
  }
  return ok;
}

// Operations of fuzz_engine.cpp (op byte, then its fields).
enum EngineOp : uint8_t { decide_sip, decide_raw, expire, set_up, change, refresh, templates };

bool engine_seeds(const std::string& dir) {
  bool ok = true;
  const std::string invites[] = {test::invite("a84b4c76e66710@198.18.0.1"), test::invite("call-2@198.18.0.1"),
                                 test::invite("a84b4c76e66710@198.18.0.1", "BYE")};
  // Messages that name their server (the sip service reads tags s1..s3).
  const std::string tagged[] = {
      "BYE sip:198.18.2.100:5060;sipvsd=s3 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK1\r\n"
      "Call-ID: call-2@198.18.0.1\r\nCSeq: 2 BYE\r\n\r\n",
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.18.2.100:5060;branch=z9hG4bK2;sipvsd=s2\r\n"
      "Call-ID: a84b4c76e66710@198.18.0.1\r\nCSeq: 1 INVITE\r\n\r\n",
      "BYE sip:sipvsd-s9@198.18.2.100 SIP/2.0\r\nRoute: <sip:198.18.2.100;lr;sipvsd=s1>\r\n"
      "Call-ID: call-2@198.18.0.1\r\nCSeq: 3 BYE\r\n\r\n"};
  for (uint8_t sched = 0; sched < 6; ++sched) {
    // Header: per-source limit, the three services' schedulers, the clock.
    Bytes b = {0, sched, static_cast<uint8_t>((sched + 1) % 6), static_cast<uint8_t>((sched + 2) % 6), 0, 0, 1, 0};
    auto sip = [&](uint8_t route, std::string_view m) {
      b.insert(b.end(), {decide_sip, route, 1});
      put_text(b, m);
    };
    for (uint8_t route : {0, 2, 4, 1, 3, 0x80, 0x82}) sip(route, invites[route % 3]);
    sip(0, invites[2]);
    for (const std::string& m : tagged) sip(0, m);
    for (const std::string_view m : kMessages) sip(1, m);
    b.insert(b.end(), {set_up, 0x80, refresh, change, 1, 0x21, refresh, templates, 0x04});
    sip(0, invites[0]);
    b.insert(b.end(), {change, 2, 0, refresh, expire, 40, 8, templates, 0x84});
    b.push_back(decide_raw);
    b.insert(b.end(), {1, 0});
    put_text(b, std::string_view(reinterpret_cast<const char*>(ipv4(udp(kMessages[0]), {}, 0).data()),
                                 ipv4(udp(kMessages[0]), {}, 0).size()));
    ok &= write(dir, "ops-" + std::to_string(sched), b);
  }
  return ok;
}

bool loaders_seeds(const std::string& dir, const std::vector<std::string>& config_files) {
  bool ok = true;
  const sipvsd::DaemonConfig c = test::sip_config();
  ok &= write(dir, "config-fixture", text_bytes(0, sipvsd::to_json(c).dump(2)));
  int n = 0;
  for (const std::string& path : config_files) {
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    ok &= f.good() || f.eof();
    ok &= write(dir, "config-" + std::to_string(n++), text_bytes(0, text.str()));
  }
  ok &= write(dir, "state-fixture", text_bytes(1, sipvsd::state_file_text(c)));

  sipvs::Engine engine(c.engine);
  auto worker = engine.make_decider();
  const sipvs::Seconds now = sipvs::monotonic_seconds();
  for (const char* call : {"a84b4c76e66710@198.18.0.1", "call-7@example", "call-8@example"})
    worker.decide(test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060, test::invite(call)), 0, now);
  // fuzz_loaders reads templates as of this time: these are fresh.
  constexpr std::time_t saved_at = 1'800'000'000;
  ok &= write(dir, "templates", text_bytes(2, sipvsd::templates_file_text(engine.templates({}, now), saved_at)));
  return ok;
}

bool api_seeds(const std::string& dir) {
  struct Call {
    uint8_t flags;  // method index | content type << 3 | 0x20 token
    const char* target;
    const char* body;
  };
  // Methods: 0 get, 1 post, 2 put, 3 patch, 4 delete; content types: 0 json, 1 merge-patch.
  const Call calls[] = {
      {1, "/v1/services",
       R"({"name": "b", "vip": "198.18.2.101", "port": 5060, "persistence_timeout": 60, "pe": "sip", )"
       R"("servers": [{"address": "198.18.1.5", "mark": 5}]})"},
      {0, "/v1/services", ""},
      {3 | 1 << 3, "/v1/services/b", R"({"scheduler": "rr", "persistence_timeout": 30})"},
      {2, "/v1/services/b", R"({"vip": "198.18.2.102", "port": 5080})"},
      {1, "/v1/services/sip/servers", R"({"address": "198.18.1.3", "port": 5060, "weight": 2, "mark": 3})"},
      {3 | 1 << 3, "/v1/services/sip/servers/198.18.1.1:5060", R"({"weight": 0})"},
      {4, "/v1/services/sip/servers/198.18.1.2", ""},
      {3 | 1 << 3, "/v1/services/sip",
       R"({"health_check": {"interval_ms": 1000, "failures": 3, "on_down": "expire"}})"},
      {0, "/v1/templates?format=text&service=sip", ""},
      {0, "/v1/templates?limit=20&offset=1&client=198.18.0.1", ""},
      {4, "/v1/templates?callid=call-7%40example", ""},
      {0, "/v1/stats", ""},
      {0, "/metrics", ""},
      {0, "/healthz", ""},
      {2, "/v1/debug-level", R"({"level": 3})"},
      {0, "/v1/config", ""},
      {4, "/v1/services/b", ""},
  };
  bool ok = true;
  int n = 0;
  for (const bool token : {false, true}) {
    Bytes b = {static_cast<uint8_t>(token)};
    for (const Call& c : calls) {
      b.push_back(static_cast<uint8_t>(c.flags | (token ? 0x20 : 0)));
      put_text(b, c.target);
      put_text(b, c.body);
      if (b.size() > 600) {
        ok &= write(dir, "requests-" + std::to_string(n++), b);
        b = {static_cast<uint8_t>(token)};
      }
    }
    ok &= write(dir, "requests-" + std::to_string(n++), b);
  }
  // A PUT of the whole configuration, and one raw request through the parser.
  Bytes b = {0, 0};
  put_text(b, "/v1/config");
  b.push_back(2);
  put_text(b, "/v1/config");
  put_text(b, sipvsd::to_json(test::sip_config()).dump());
  b.push_back(0x80);
  put_text(b, "PATCH /v1/services/sip HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/merge-patch+json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n14\r\n{\"scheduler\": \"wrr\"}\r\n0\r\n\r\n");
  ok &= write(dir, "config-and-raw", b);
  return ok;
}

// fuzz_sync.cpp's key and modes: 0, sign the rest again; 1, take it as it is.
bool sync_seeds(const std::string& dir) {
  using namespace sipvs::sync;
  Key key;
  key.fill(0x42);
  const Authenticator auth(key);
  Header h{MessageType::records, 1, 0x1122334455667788, 1'700'000'000'000'000'000, 1};
  SyncRecord v4;
  v4.vip = *sipvs::IpAddress::parse("198.18.2.100");
  v4.vport = 5060;
  v4.client = *sipvs::IpAddress::parse("198.18.0.1");
  v4.server = *sipvs::IpAddress::parse("198.18.1.2");
  v4.timeout = 300;
  v4.pe_name = "sip";
  v4.pe_data = "a84b4c76e66710@198.18.0.1";
  SyncRecord v6 = v4;
  v6.vip = *sipvs::IpAddress::parse("2001:2:0:2::100");
  v6.client = *sipvs::IpAddress::parse("2001:2::1");
  v6.server = *sipvs::IpAddress::parse("2001:2:0:1::2");
  v6.op = RecordOp::erase;
  v6.timeout = 0;
  v6.learned = true;
  DatagramWriter w(h);
  w.add(v4);
  w.add(v6);
  const std::span<const uint8_t> records = w.seal(auth);
  const Bytes records_bytes(records.begin(), records.end());
  Header bulk_header = h;
  bulk_header.type = MessageType::bulk_records;
  DatagramWriter bulk(bulk_header);
  bulk.add(v4);
  const std::span<const uint8_t> bulk_records = bulk.seal(auth);
  const ServerIdentity down_v4{17, v4.vip, 5060, 0, v4.server, 5060};
  const ServerIdentity down_marked{0, {}, 0, 7, v6.server, 0};
  const std::vector<std::pair<std::string, Bytes>> datagrams = {
      {"records", records_bytes},
      {"bulk-records", Bytes(bulk_records.begin(), bulk_records.end())},
      {"alive", encode_alive(h, Alive{{}, true, 12, {}, false}, auth)},
      {"alive-down", encode_alive(h, Alive{{}, true, 12, {down_v4, down_marked}, true}, auth)},
      {"resync-request", encode_resync_request(h, 7, auth)},
      {"resync-end", encode_resync_end(h, 7, 1000, auth)}};
  bool ok = true;
  for (const auto& [name, d] : datagrams) {
    for (const uint8_t mode : {0, 1}) {
      Bytes b{mode};
      b.insert(b.end(), d.begin(), d.end());
      ok &= write(dir, name + "-" + std::to_string(mode), b);
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s packet|engine|loaders|api|sync CORPUS_DIR [CONFIG_FILE...]\n", argv[0]);
    return 2;
  }
  const std::string target = argv[1], dir = argv[2];
  bool ok = false;
  if (target == "packet") ok = packet_seeds(dir);
  else if (target == "engine") ok = engine_seeds(dir);
  else if (target == "loaders") ok = loaders_seeds(dir, std::vector<std::string>(argv + 3, argv + argc));
  else if (target == "api") ok = api_seeds(dir);
  else if (target == "sync") ok = sync_seeds(dir);
  else std::fprintf(stderr, "make_seeds: unknown target %s\n", target.c_str());
  return ok ? 0 : 1;
}
