#include "log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace sipvsd::log {

namespace {
std::atomic<unsigned> g_debug_level{0};
// -1: not decided yet (decided on the first line), 0: terminal words, 1: journald prefix.
std::atomic<int> g_prefix_mode{-1};

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

void set_prefix_mode(bool journald) { g_prefix_mode.store(journald ? 1 : 0, std::memory_order_relaxed); }

void vwrite(Level level, const char* fmt, va_list ap) {
  int mode = g_prefix_mode.load(std::memory_order_relaxed);
  if (mode < 0) {
    mode = isatty(STDERR_FILENO) ? 0 : 1;
    g_prefix_mode.store(mode, std::memory_order_relaxed);
  }
  char line[kMaxLine];
  int n = mode ? std::snprintf(line, sizeof line, "<%d>", static_cast<int>(level))
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
