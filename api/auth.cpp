#include "api/auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sipvsd::api {

std::string load_token(const std::string& path) {
  auto fail = [&](const std::string& why) { throw std::runtime_error("token file " + path + ": " + why); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::strerror(errno));
  // Checked on the opened file, so a swap between check and read changes nothing.
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0)
    why = std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    why = "not a regular file";
  else if ((st.st_mode & 077) != 0)
    why = "readable or writable by group or others; chmod 600 it";
  std::string text;
  char buf[4096];
  while (why.empty()) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = std::strerror(errno);
    else if (text.size() > 64 * 1024) why = "larger than 64 KiB";
    else text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!why.empty()) fail(why);
  const auto first_line = text.substr(0, text.find('\n'));
  const auto begin = first_line.find_first_not_of(" \t\r");
  if (begin == std::string::npos) fail("empty");
  return first_line.substr(begin, first_line.find_last_not_of(" \t\r") - begin + 1);
}

bool authorized(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 7235).
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != std::tolower(static_cast<unsigned char>(kScheme[i])))
      return false;
  const std::string_view given = authorization.substr(kScheme.size());
  // Constant time in the token's content: every byte is compared.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  return diff == 0;
}

}  // namespace sipvsd::api
