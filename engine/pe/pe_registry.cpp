// Name -> factory for the persistence engines. An explicit table instead of
// static self-registration: the linker drops unreferenced objects of a static
// library, and with them their registrars.
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/pe/persistence_engine.hpp"

namespace sipvs {

// Each defined in its PE's own file.
std::unique_ptr<PersistenceEngine> make_sip_pe(std::string_view param);
std::unique_ptr<PersistenceEngine> make_sip_header_pe(std::string_view param);
std::unique_ptr<PersistenceEngine> make_sip_tag_pe(std::string_view param);

namespace {

struct PeFactory {
  std::string_view name;
  std::unique_ptr<PersistenceEngine> (*make)(std::string_view param);
};

constexpr PeFactory kEngines[] = {
    {"sip", make_sip_pe},
    {"sip-header", make_sip_header_pe},
    {"sip-tag", make_sip_tag_pe},
};

}  // namespace

std::unique_ptr<PersistenceEngine> make_persistence_engine(std::string_view name, std::string_view param) {
  for (const PeFactory& f : kEngines)
    if (f.name == name) return f.make(param);
  std::string error = "unknown persistence engine '" + std::string(name) + "' (known: ";
  for (const PeFactory& f : kEngines) {
    if (&f != kEngines) error += ", ";
    error += f.name;
  }
  throw std::invalid_argument(error + ")");
}

std::vector<std::string_view> persistence_engine_names() {
  std::vector<std::string_view> names;
  for (const PeFactory& f : kEngines) names.push_back(f.name);
  return names;
}

}  // namespace sipvs
