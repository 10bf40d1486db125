#pragma once
// What carries live state across a restart: the services as last changed
// (the state file, written on every accepted change) and the templates of
// calls in progress (written periodically and at shutdown). Both are JSON,
// written atomically: a crash mid-write leaves the old file or the new one,
// never a torn one.
#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/config/config_field_error.hpp"
#include "daemon/config/daemon_config.hpp"
#include "daemon/config/json_text.hpp"
#include "engine/engine.hpp"

namespace sipvsd {

// The file was replaced, but its directory could not be synced afterwards:
// the new content is what any reader sees now, yet a power loss may bring
// the old file back. Not a std::system_error, whose catchers take it to mean
// that nothing was written.
class WrittenNotSynced : public std::runtime_error {
 public:
  WrittenNotSynced(const std::string& path, const std::string& directory, int error);
  int error() const { return error_; }  // errno

 private:
  int error_;
};

// Writes `content` to a temporary file in the same directory, fsyncs it,
// renames it over `path` and fsyncs the directory, so that the rename itself
// survives a power loss. Mode 0600. Throws std::system_error naming the path
// if `path` still has its old content (or still does not exist), and
// WrittenNotSynced if it was replaced but the directory sync failed.
void write_file_atomically(const std::string& path, std::string_view content);

// Reads a whole file; nullopt if it does not exist. Throws std::system_error
// for other failures.
std::optional<std::string> read_file_if_exists(const std::string& path);

// The part of the configuration that can change while sipvsd runs and that a
// restart keeps: services, udp_timeout, mark_mask, the unplaced policy and
// forwarding. The rest (queues, queue_maxlen, max_templates, state_file, api,
// and debug_level, a diagnostic switch) comes from the config file at every
// start. The state file is a partial config file in the same schema, plus
// its format version.
inline constexpr const char* kStateKeys[] = {"services",   "udp_timeout", "mark_mask",
                                             "unplaced",   "forwarding",  "forwarding_options"};

// The format version that "version" carries in the state and templates files.
// A file without it was written before versions (the same format as 1); a
// file of a higher version comes from a newer sipvsd and is not read.
inline constexpr uint64_t kStateFormatVersion = 1;

// The state file's text for a configuration: its kStateKeys and the version.
std::string state_file_text(const DaemonConfig& c);
// `from_file` with the state file's settings (text as read) in place of its
// own, not checked yet (check_config is next). Throws JsonSyntaxError or
// ConfigFieldError: a value of a bad type or format, an unknown key, a newer
// version.
DaemonConfig apply_state_file(const DaemonConfig& from_file, std::string_view text);

// Base64 (RFC 4648, with padding): pe data are raw bytes, not always UTF-8.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// The templates file: its version, when it was written (wall clock, since
// monotonic time restarts with the machine) and each template's remaining
// lifetime. Written as text directly, one template per line: it is rewritten
// periodically and may hold max_templates entries, too many for a JSON tree.
std::string templates_file_text(const std::vector<sipvs::TemplateInfo>& templates, std::time_t saved_at);
struct SavedTemplates {
  std::vector<sipvs::TemplateInfo> templates;  // expires_in already reduced by the time since saving
  std::size_t expired = 0;                     // skipped: their lifetime ran out while sipvsd was down
};
// Throws ConfigFieldError for a malformed file or a newer version.
SavedTemplates templates_from_json(const nlohmann::json& j, std::time_t now);

}  // namespace sipvsd
