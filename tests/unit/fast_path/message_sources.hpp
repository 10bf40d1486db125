#pragma once
// Where the differential test's SIP messages come from:
//  - the engine's parser tests (test_parse_sip.cpp, test_parse_rfc4475.cpp):
//    this binary compiles them again with find_sip_header renamed to
//    recording_find_sip_header (CMakeLists.txt), which records each message
//    they parse; main.cpp runs them before the other tests;
//  - raw payload files: the fuzz corpus (directories from main.cpp);
//  - SipMessageGenerator: a seeded mix of what is tricky for the parser.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/parse/sip_header.hpp"

namespace sipvs {
// The engine's parser tests call this instead of find_sip_header.
SipStatus recording_find_sip_header(std::string_view message, SipHeaderName name, SipScratch& scratch,
                                    std::string_view& value);
}  // namespace sipvs

namespace fp_test {

// Records while on: main.cpp turns it on around the parser tests' run.
void set_recording(bool on);
// Every distinct message the parser tests parsed, in a stable order.
std::vector<std::string> recorded_messages();

// Directories of raw payload files (one message per file), searched recursively.
std::vector<std::string>& corpus_dirs();
struct CorpusFile {
  std::string path;
  std::string bytes;
};
// Fails the test if a directory that was asked for explicitly is missing.
std::vector<CorpusFile> read_corpus();

class SipMessageGenerator {
 public:
  explicit SipMessageGenerator(uint32_t seed) : rng_(seed) {}
  std::string next();

 private:
  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }  // mt19937's output is fixed by the standard
  bool chance(uint32_t percent) { return pick(100) < percent; }
  template <typename T, std::size_t N>
  const T& one_of(const T (&choices)[N]) {
    return choices[pick(N)];
  }

  std::string message();
  std::string start_line();
  std::string line_end();
  std::string wsp_run(uint32_t max);
  std::string header_name();
  std::string text(std::size_t size);
  std::vector<std::string> value_pieces();
  std::string header(const std::string& name, const std::vector<std::string>& pieces);
  std::vector<std::string> repeat_of(const std::vector<std::string>& first);
  std::string other_header();
  std::string body();
  std::string pad(std::string m);
  std::string mutate(std::string m);

  std::mt19937 rng_;
  int line_style_ = 0;  // per message: CRLF, LF, or a mix
};

}  // namespace fp_test
