#pragma once
// Logging to stderr, one line per event, in the form journald understands:
// each line starts with an sd-daemon level prefix ("<3>" error ... "<7>" debug),
// which journald turns into the entry's priority. On a terminal the prefix is
// written as a word instead. A line is written with a single write(2), so lines
// from several threads never interleave; formatting uses a stack buffer, so
// logging allocates nothing (the workers log per packet at debug level 9+).
#include <atomic>
#include <cstdarg>
#include <cstdint>

namespace sipvsd::log {

enum class Level { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// 0..10, like IPVS's debug_level. Debug messages of level n are written when
// the current level is >= n; at 9 and above the workers log every decision.
inline constexpr unsigned kMaxDebug = 10;
inline constexpr unsigned kPacketDebug = 9;
unsigned debug_level();
void set_debug_level(unsigned level);  // clamped to 0..kMaxDebug
inline bool debug_on(unsigned n) { return debug_level() >= n; }
// For a repeated problem logged the 1st, 2nd, 4th, 8th... time: call with
// its running count.
constexpr bool is_power_of_two(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// Lines longer than this are cut.
inline constexpr unsigned kMaxLine = 2048;

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* fmt, va_list ap) __attribute__((format(printf, 2, 0)));

}  // namespace sipvsd::log

#define LOG_ERR(...) ::sipvsd::log::write(::sipvsd::log::Level::err, __VA_ARGS__)
#define LOG_WARN(...) ::sipvsd::log::write(::sipvsd::log::Level::warning, __VA_ARGS__)
#define LOG_NOTICE(...) ::sipvsd::log::write(::sipvsd::log::Level::notice, __VA_ARGS__)
#define LOG_INFO(...) ::sipvsd::log::write(::sipvsd::log::Level::info, __VA_ARGS__)
// Debug messages cost one relaxed atomic load when off.
#define LOG_DEBUG(n, ...)                                                       \
  do {                                                                          \
    if (::sipvsd::log::debug_on(n)) ::sipvsd::log::write(::sipvsd::log::Level::debug, __VA_ARGS__); \
  } while (0)
