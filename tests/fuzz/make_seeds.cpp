// Writes the fuzz seed corpus into the directory given as argv[1]: a few SIP
// messages as plain text, and the same messages wrapped in IPv4 and IPv6 UDP
// packets (with options, extension headers and as fragments), so the fuzzer
// starts from inputs that get deep into both parsers.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
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
  return ok ? 0 : 1;
}
