#pragma once
// The fixed part of a template's key (the pe data follows it in the table).
#include <cstdint>
#include <type_traits>

namespace sipvs {

// The fixed part of a template's key, laid out without padding so that it is
// hashed and compared as bytes.
struct TemplateKey {
  uint8_t client[16]{};  // masked client address
  uint8_t vaddr[16]{};   // VIP; zero for fwmark services
  uint32_t fwmark = 0;
  uint16_t vport = 0;
  uint16_t cport = 0;  // nonzero only for per-flow (non-persistent) entries
  uint8_t client_family = 0;
  uint8_t vaddr_family = 0;
  uint8_t protocol = 0;
  uint8_t pe_len = 0;  // length of the pe data; 0 = no pe data (PE fell back or none)
};
static_assert(sizeof(TemplateKey) == 44 && std::has_unique_object_representations_v<TemplateKey>);

}  // namespace sipvs
