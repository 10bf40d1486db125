#include "daemon/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace sipvsd::log {

namespace {
std::atomic<unsigned> g_debug_level{0};

const char* word(Level level) {
  switch (level) {
    case Level::err: return "error: ";
    case Level::warning: return "warning: ";
    case Level::notice: return "notice: ";
    case Level::info: return "";
    case Level::debug: return "debug: ";
  }
  return "";
}
}  // namespace

unsigned debug_level() { return g_debug_level.load(std::memory_order_relaxed); }

void set_debug_level(unsigned level) { g_debug_level.store(std::min(level, kMaxDebug), std::memory_order_relaxed); }

void vwrite(Level level, const char* fmt, va_list ap) {
  // Words for a terminal, the journald <level> prefix otherwise.
  static const bool journald = !isatty(STDERR_FILENO);
  char line[kMaxLine];
  int n = journald ? std::snprintf(line, sizeof line, "<%d>", static_cast<int>(level))
               : std::snprintf(line, sizeof line, "%s", word(level));
  if (n < 0) return;
  const int m = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, ap);
  if (m < 0) return;
  std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(n + m), sizeof line - 2);
  // One event, one line: a newline inside a message would start a new journal entry.
  for (std::size_t i = static_cast<std::size_t>(n); i < len; ++i)
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  line[len++] = '\n';
  const int saved = errno;
  std::size_t off = 0;
  while (off < len) {
    const ssize_t w = ::write(STDERR_FILENO, line + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += static_cast<std::size_t>(w);
  }
  errno = saved;
}

void write(Level level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, fmt, ap);
  va_end(ap);
}

}  // namespace sipvsd::log
