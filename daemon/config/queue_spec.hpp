#pragma once
// Lists of NFQUEUE numbers as text: "0-1", "0,2,4-7", "3" (the config file's
// "queues" and the --queue option).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sipvsd {

// Sorted, no duplicates. Throws std::invalid_argument.
std::vector<uint16_t> parse_queue_spec(std::string_view text);
std::string queue_spec_to_string(const std::vector<uint16_t>& queues);

}  // namespace sipvsd
