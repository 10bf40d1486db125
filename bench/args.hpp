#pragma once
// The bench programs' command lines: "--option value" pairs, and numbers
// that are non-negative decimals, or the program exits with status 2 and
// says which option was wrong.
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bench {

// Calls take(option, value) for each pair; -h/--help calls usage(0), an
// option without a value or one take() does not know (false) usage(2).
template <class Usage, class Take>
void for_each_option(int argc, char** argv, Usage usage, Take take) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view option = argv[i];
    if (option == "-h" || option == "--help") usage(0);
    if (i + 1 >= argc || !take(option, argv[i + 1])) usage(2);
    ++i;
  }
}

inline double number(const char* program, const char* text, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (!*text || *end || v < 0) {
    std::fprintf(stderr, "%s: %s: bad number \"%s\"\n", program, what, text);
    std::exit(2);
  }
  return v;
}

}  // namespace bench
