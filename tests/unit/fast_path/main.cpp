// unit_fast_path [--corpus=DIR]... [doctest options]
// Runs the engine's parser tests first (compiled into this binary), which
// records the messages they parse for the differential test, then this
// directory's tests. Payload corpora for the differential test: DIR
// arguments, the directories in $SIPVSD_FP_CORPUS (':'-separated), and by
// default the repository's fuzz seeds and this build's fuzz_packet corpus
// (tests/fuzz/run_fuzz.sh), when that exists.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "message_sources.hpp"

namespace {

constexpr const char* kParserTests = "*test_parse_sip.cpp,*test_parse_rfc4475.cpp";

void add_corpus_dirs(int argc, char** argv, std::vector<const char*>& doctest_args) {
  std::vector<std::string>& dirs = fp_test::corpus_dirs();
  dirs.push_back(SIPVSD_SOURCE_DIR "/tests/fuzz/seeds");
  if (std::filesystem::is_directory(SIPVSD_FUZZ_CORPUS)) dirs.push_back(SIPVSD_FUZZ_CORPUS);
  if (const char* env = std::getenv("SIPVSD_FP_CORPUS")) {
    std::string_view list = env;
    while (!list.empty()) {
      const std::size_t colon = std::min(list.find(':'), list.size());
      if (colon > 0) dirs.emplace_back(list.substr(0, colon));
      list.remove_prefix(std::min(colon + 1, list.size()));
    }
  }
  constexpr std::string_view kCorpus = "--corpus=";
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.substr(0, kCorpus.size()) == kCorpus)
      dirs.emplace_back(arg.substr(kCorpus.size()));
    else
      doctest_args.push_back(argv[i]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<const char*> args;
  add_corpus_dirs(argc, argv, args);

  // The engine's own parser tests, recording their messages.
  doctest::Context parser_tests;
  parser_tests.addFilter("source-file", kParserTests);
  parser_tests.setOption("minimal", true);
  fp_test::set_recording(true);
  const int parser_result = parser_tests.run();
  fp_test::set_recording(false);
  if (parser_result != 0) return parser_result;

  doctest::Context context(static_cast<int>(args.size()), args.data());
  context.addFilter("source-file-exclude", kParserTests);
  return context.run();
}
