#pragma once
// Command-line numbers of the bench programs: a non-negative decimal, or the
// program exits with status 2 and says which option was wrong.
#include <cstdio>
#include <cstdlib>

namespace bench {

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
