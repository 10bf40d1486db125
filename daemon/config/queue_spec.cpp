#include "daemon/config/queue_spec.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "daemon/config/daemon_config.hpp"

namespace sipvsd {

std::vector<uint16_t> parse_queue_spec(std::string_view text) {
  std::vector<uint16_t> out;
  auto number = [&](std::string_view s) -> unsigned {
    unsigned x = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || x > 65535)
      throw std::invalid_argument("\"" + std::string(s) + "\" is not a queue number (0-65535)");
    return x;
  };
  if (text.empty()) throw std::invalid_argument("empty queue list");
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(pos, comma - pos);
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      out.push_back(static_cast<uint16_t>(number(item)));
    } else {
      const unsigned lo = number(item.substr(0, dash)), hi = number(item.substr(dash + 1));
      if (lo > hi) throw std::invalid_argument("range \"" + std::string(item) + "\" goes backwards");
      if (hi - lo >= kMaxQueues)
        throw std::invalid_argument("range \"" + std::string(item) + "\" has more than " +
                                    std::to_string(kMaxQueues) + " queues");
      for (unsigned q = lo; q <= hi; ++q) out.push_back(static_cast<uint16_t>(q));
    }
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  if (auto d = std::adjacent_find(out.begin(), out.end()); d != out.end())
    throw std::invalid_argument("queue " + std::to_string(*d) + " is listed twice");
  return out;
}

std::string queue_spec_to_string(const std::vector<uint16_t>& queues) {
  std::string out;
  for (std::size_t i = 0; i < queues.size();) {
    std::size_t j = i;
    while (j + 1 < queues.size() && queues[j + 1] == queues[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(queues[i]);
    if (j > i) {
      out += '-';  // (not "-" + to_string(): GCC 12 -O2 warns wrongly with -Wrestrict there)
      out += std::to_string(queues[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace sipvsd
