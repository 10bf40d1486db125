#include "daemon/config/config_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/config_json.hpp"
#include "daemon/config/json_text.hpp"

namespace sipvsd {

DaemonConfig load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UnusableFile(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw UnusableFile(path + ": cannot read: " + std::strerror(errno));
  try {
    return config_from_json(parse_json_text(text.str()));
  } catch (const JsonSyntaxError& e) {
    throw UnusableFile(path + ":" + e.what());
  } catch (const ConfigFieldError& e) {
    throw UnusableFile(path + ": " + e.what());
  }
}

}  // namespace sipvsd
