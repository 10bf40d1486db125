#include "daemon/config/state_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "daemon/config/config_json.hpp"
#include "daemon/config/json_text.hpp"

namespace sipvsd {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path);
}

// Closes on every path out, including the exceptions of fail().
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Throws ConfigFieldError unless `j`'s "version", if any, is one this sipvsd reads.
void check_version(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("version")) return;  // before versions: the format of version 1
  const nlohmann::json& v = j["version"];
  if (!v.is_number_unsigned() || v.get<uint64_t>() == 0)
    throw ConfigFieldError("version", "must be a format version (" + std::to_string(kStateFormatVersion) + ")");
  if (v.get<uint64_t>() > kStateFormatVersion)
    throw ConfigFieldError("version", std::to_string(v.get<uint64_t>()) +
                                          ": written by a newer sipvsd (this one reads format version " +
                                          std::to_string(kStateFormatVersion) + ")");
}

}  // namespace

WrittenNotSynced::WrittenNotSynced(const std::string& path, const std::string& directory, int error)
    : std::runtime_error(path + " written, but its directory " + directory + " could not be synced (" +
                         std::strerror(error) + "): the change may not survive a power loss"),
      error_(error) {}

void write_file_atomically(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (f.fd < 0) fail("cannot create", tmp);
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(f.fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        fail("cannot write", tmp);
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) {
      const int saved = errno;
      ::unlink(tmp.c_str());
      errno = saved;
      fail("cannot fsync", tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    fail("cannot rename " + tmp + " to", path);
  }
  // From here on `path` has the new content, whatever happens.
  const std::string dir = directory_of(path);
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0) throw WrittenNotSynced(path, dir, errno);
}

std::optional<std::string> read_file_if_exists(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail("cannot open", path);
  }
  std::string out;
  std::array<char, 65536> buf;
  for (;;) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read", path);
    if (n == 0) return out;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kBase64[(v >> shift) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += rest == 2 ? kBase64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      uint32_t d = 0;
      if (c == '=') {
        // Padding only at the very end, at most two, and nothing after it.
        if (i + 4 != text.size() || k < 2) return std::nullopt;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        const char* at = std::char_traits<char>::find(kBase64, 64, c);
        if (!at) return std::nullopt;
        d = static_cast<uint32_t>(at - kBase64);
      }
      v = v << 6 | d;
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

std::string state_file_text(const DaemonConfig& c) {
  const nlohmann::json all = to_json(c);
  nlohmann::json state = nlohmann::json::object();
  state["version"] = kStateFormatVersion;
  for (const char* key : kStateKeys) state[key] = all.at(key);
  return state.dump(2) + "\n";
}

DaemonConfig apply_state_file(const DaemonConfig& from_file, std::string_view text) {
  const nlohmann::json state = parse_json_text(text);
  if (!state.is_object()) throw ConfigFieldError("", "must be a JSON object");
  // First: a newer format may have keys this sipvsd does not know.
  check_version(state);
  nlohmann::json merged = to_json(from_file);
  for (auto it = state.begin(); it != state.end(); ++it) {
    if (it.key() == "version") continue;
    if (std::find_if(std::begin(kStateKeys), std::end(kStateKeys), [&](const char* k) { return it.key() == k; }) ==
        std::end(kStateKeys))
      throw ConfigFieldError(it.key(), "not a key of the state file");
    merged[it.key()] = it.value();
  }
  return config_from_json(merged);
}

std::string templates_file_text(const std::vector<sipvs::TemplateInfo>& templates, std::time_t saved_at) {
  std::string out;
  out.reserve(64 + templates.size() * 192);
  out += "{\"version\": " + std::to_string(kStateFormatVersion) + ", \"saved_at\": " + std::to_string(saved_at) +
         ", \"templates\": [";
  const char* separator = "\n";
  for (const auto& t : templates) {
    out += separator;
    separator = ",\n";
    // Addresses, numbers and base64 need no escaping; a service name might.
    out += "{\"service\": " + nlohmann::json(t.service).dump();
    out += ", \"client\": \"" + t.client.to_string();
    out += "\", \"client_port\": " + std::to_string(t.client_port);
    out += ", \"server\": \"" + t.server.to_string();
    out += "\", \"server_port\": " + std::to_string(t.server_port);
    out += ", \"pe_data_base64\": \"" + base64_encode(t.pe_data);
    out += "\", \"expires_in\": " + std::to_string(t.expires_in);
    if (t.learned) out += ", \"learned\": true";  // absent: scheduled (files of older versions too)
    out += "}";
  }
  out += "\n]}\n";
  return out;
}

SavedTemplates templates_from_json(const nlohmann::json& j, std::time_t now) {
  check_version(j);
  auto member = [](const nlohmann::json& obj, const char* key, const std::string& field) -> const nlohmann::json& {
    if (!obj.is_object() || !obj.contains(key)) throw ConfigFieldError(field + key, "missing");
    return obj[key];
  };
  auto uint_at = [&](const nlohmann::json& obj, const char* key, const std::string& field, uint64_t max) {
    const auto& v = member(obj, key, field);
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max)
      throw ConfigFieldError(field + key, "must be a number between 0 and " + std::to_string(max));
    return v.get<uint64_t>();
  };
  auto string_at = [&](const nlohmann::json& obj, const char* key, const std::string& field) {
    const auto& v = member(obj, key, field);
    if (!v.is_string()) throw ConfigFieldError(field + key, "must be a string");
    return v.get<std::string>();
  };
  auto address_at = [&](const nlohmann::json& obj, const char* key, const std::string& field) {
    const std::string s = string_at(obj, key, field);
    auto a = sipvs::IpAddress::parse(s);
    if (!a) throw ConfigFieldError(field + key, "\"" + s + "\" is not an IP address");
    return *a;
  };

  const auto saved_at = static_cast<std::time_t>(uint_at(j, "saved_at", "", INT64_MAX));
  // A clock that went backwards counts as no time passed.
  const uint64_t elapsed = now > saved_at ? static_cast<uint64_t>(now - saved_at) : 0;
  const auto& list = member(j, "templates", "");
  if (!list.is_array()) throw ConfigFieldError("templates", "must be an array");
  SavedTemplates out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = "templates[" + std::to_string(i) + "].";
    const auto& e = list[i];
    sipvs::TemplateInfo t;
    t.service = string_at(e, "service", field);
    t.client = address_at(e, "client", field);
    t.client_port = static_cast<uint16_t>(uint_at(e, "client_port", field, 65535));
    t.server = address_at(e, "server", field);
    t.server_port = static_cast<uint16_t>(uint_at(e, "server_port", field, 65535));
    auto pe = base64_decode(string_at(e, "pe_data_base64", field));
    if (!pe) throw ConfigFieldError(field + "pe_data_base64", "is not base64");
    t.pe_data = std::move(*pe);
    const uint64_t expires_in = uint_at(e, "expires_in", field, UINT32_MAX);
    if (expires_in <= elapsed) {
      ++out.expired;
      continue;
    }
    t.expires_in = static_cast<sipvs::Seconds>(expires_in - elapsed);
    if (e.contains("learned")) {
      if (!e["learned"].is_boolean()) throw ConfigFieldError(field + "learned", "must be true or false");
      t.learned = e["learned"].get<bool>();
    }
    out.templates.push_back(std::move(t));
  }
  return out;
}

}  // namespace sipvsd
