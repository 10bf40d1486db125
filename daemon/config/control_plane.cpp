#include "daemon/config/control_plane.hpp"

#include <unistd.h>

#include <array>
#include <optional>
#include <string_view>
#include <system_error>

#include "daemon/log.hpp"
#include "daemon/config/state_file.hpp"
#include "daemon/config/daemon_checks.hpp"
#include "daemon/config/json_text.hpp"

namespace sipvsd {

namespace {

// Settings a running daemon cannot take: the queues are bound, the API
// listens, the state file is where changes go, the template table is allocated.
struct RestartOnly {
  const char* field;
  bool (*same)(const DaemonConfig&, const DaemonConfig&);
  void (*keep)(DaemonConfig& candidate, const DaemonConfig& running);
};
constexpr RestartOnly kRestartOnly[] = {
    {"queues", [](const DaemonConfig& a, const DaemonConfig& b) { return a.queues == b.queues; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.queues = r.queues; }},
    {"queue_maxlen", [](const DaemonConfig& a, const DaemonConfig& b) { return a.queue_maxlen == b.queue_maxlen; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.queue_maxlen = r.queue_maxlen; }},
    {"state_file", [](const DaemonConfig& a, const DaemonConfig& b) { return a.state_file == b.state_file; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.state_file = r.state_file; }},
    {"api", [](const DaemonConfig& a, const DaemonConfig& b) { return a.api == b.api; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.api = r.api; }},
    // The sync thread's socket, key and change log are set up at start.
    {"sync", [](const DaemonConfig& a, const DaemonConfig& b) { return a.sync == b.sync; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.sync = r.sync; }},
    // The program is loaded and attached at start.
    {"fast_path", [](const DaemonConfig& a, const DaemonConfig& b) { return a.fast_path == b.fast_path; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.fast_path = r.fast_path; }},
    // The template table is sized once.
    {"max_templates",
     [](const DaemonConfig& a, const DaemonConfig& b) { return a.engine.max_templates == b.engine.max_templates; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.engine.max_templates = r.engine.max_templates; }},
    // The template saver's thread is started with it.
    {"templates_save_interval",
     [](const DaemonConfig& a, const DaemonConfig& b) { return a.templates_save_interval == b.templates_save_interval; },
     [](DaemonConfig& c, const DaemonConfig& r) { c.templates_save_interval = r.templates_save_interval; }},
};

// write_file_atomically, for a caller to whom a replaced file is a written
// one: a failed directory sync is worth a warning, not a failed change.
void write_and_warn_if_not_synced(const std::string& path, std::string_view content) {
  try {
    write_file_atomically(path, content);
  } catch (const WrittenNotSynced& e) {
    LOG_WARN("%s", e.what());
  }
}

}  // namespace

CheckedConfig ControlPlane::startup_config(const DaemonConfig& from_file) {
  // Valid on its own, whatever the state file holds: SIGHUP reloads it.
  CheckedConfig checked = check_config(from_file);
  if (from_file.state_file.empty()) {
    LOG_NOTICE("no state_file configured: changes made through the API last until sipvsd stops");
    return checked;
  }
  const std::string& path = from_file.state_file;
  // A state file that cannot be read holds changes made through the API:
  // starting without them would let the next change overwrite them.
  const std::string way_out = ": fix it, or move it aside to start with the config file's services";
  std::optional<std::string> text;
  try {
    text = read_file_if_exists(path);
  } catch (const std::system_error& e) {
    throw UnusableFile("state file " + path + ": " + e.what() + way_out);
  }
  if (!text) {
    LOG_INFO("state file %s does not exist yet: services from the config file", path.c_str());
    return checked;
  }
  try {
    CheckedConfig c = check_config(apply_state_file(from_file, *text));
    LOG_NOTICE("services from the state file %s (%zu services); SIGHUP reloads the config file's", path.c_str(),
               c.daemon().engine.services.size());
    return c;
  } catch (const JsonSyntaxError& e) {
    throw UnusableFile("state file " + path + ":" + e.what() + way_out);
  } catch (const ConfigFieldError& e) {
    throw UnusableFile("state file " + path + ": " + e.what() + way_out);
  }
}

ControlPlane::ControlPlane(sipvs::Engine& engine, DaemonConfig current, Applier apply)
    : engine_(engine),
      apply_(std::move(apply)),
      current_(std::move(current)),
      templates_file_(current_.state_file.empty() ? std::string() : current_.state_file + ".templates") {
  service_count_.store(current_.engine.services.size(), std::memory_order_relaxed);
  if (!apply_) {
    apply_ = [this](const CheckedConfig& c, const DaemonConfig&) -> std::optional<ConfigFieldError> {
      if (auto err = engine_.apply(c.engine())) return ConfigFieldError(std::move(*err));
      return std::nullopt;
    };
  }
  if (!current_.state_file.empty()) {
    // Written only when it would change, so an unchanged start leaves it alone.
    try {
      state_written_ = read_file_if_exists(current_.state_file).value_or("");
    } catch (const std::system_error&) {
      state_written_.clear();
    }
  }
}

DaemonConfig ControlPlane::config() const {
  sipvs::MutexLock lock(mutex_);
  return current_;
}

uint64_t ControlPlane::generation() const { return generation_.load(std::memory_order_relaxed); }

DaemonConfig ControlPlane::update(const std::function<void(DaemonConfig&)>& edit) {
  sipvs::MutexLock lock(mutex_);
  DaemonConfig candidate = current_;
  edit(candidate);
  for (const auto& r : kRestartOnly)
    if (!r.same(candidate, current_))
      throw ConfigFieldError(r.field, "cannot change while sipvsd runs: edit the config file and restart",
                             ConfigFieldError::Kind::needs_restart);
  return commit(std::move(candidate));
}

DaemonConfig ControlPlane::update_one(const std::function<sipvs::EditedObject(DaemonConfig&)>& edit) {
  return update([&](DaemonConfig& c) {
    if (auto clash = sipvs::edited_conflicts(c.engine, edit(c))) throw ConfigFieldError(std::move(*clash));
  });
}

DaemonConfig ControlPlane::replace(const DaemonConfig& candidate) {
  return update([&](DaemonConfig& c) { c = candidate; });
}

bool ControlPlane::reload(const DaemonConfig& from_file, const std::string& path) {
  sipvs::MutexLock lock(mutex_);
  DaemonConfig candidate = from_file;
  for (const auto& r : kRestartOnly) {
    if (!r.same(candidate, current_)) {
      LOG_WARN("reload: %s changed in the config file; it takes effect at the next restart", r.field);
      r.keep(candidate, current_);
    }
  }
  try {
    const DaemonConfig& c = commit(std::move(candidate));
    std::size_t servers = 0;
    for (const auto& s : c.engine.services) servers += s.servers.size();
    LOG_NOTICE("reloaded %s: %zu services, %zu real servers", path.c_str(), c.engine.services.size(), servers);
    return true;
  } catch (const std::exception& e) {
    LOG_ERR("reload: %s: %s; keeping the running configuration", path.c_str(), e.what());
    return false;
  }
}

DaemonConfig ControlPlane::commit(DaemonConfig unchecked) {
  const CheckedConfig checked = check_config(std::move(unchecked));
  const DaemonConfig& candidate = checked.daemon();
  // Persist before applying: a change that cannot be saved is not made.
  const std::string state = candidate.state_file.empty() ? std::string() : state_file_text(candidate);
  const bool write = !candidate.state_file.empty() && state != state_written_;
  const std::string previous = state_written_;
  if (write) {
    write_and_warn_if_not_synced(candidate.state_file, state);  // std::system_error: not written
    state_written_ = state;
  }
  if (const std::optional<ConfigFieldError> err = apply_(checked, current_)) {
    if (write) {
      try {
        if (previous.empty())
          ::unlink(candidate.state_file.c_str());
        else
          write_and_warn_if_not_synced(candidate.state_file, previous);
        state_written_ = previous;
      } catch (const std::system_error& e) {
        LOG_ERR("cannot put back the state file after a change that could not be applied: %s; it holds the refused change",
                e.what());
      }
    }
    throw *err;
  }
  current_ = candidate;
  service_count_.store(current_.engine.services.size(), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_relaxed);
  return current_;
}

const std::string& ControlPlane::templates_file() const { return templates_file_; }

std::size_t ControlPlane::save_templates(std::time_t now) {
  const std::string& path = templates_file();
  if (path.empty()) return 0;
  // The periodic writer and the last save at stop share the temporary file.
  sipvs::MutexLock lock(templates_mutex_);
  const auto list = engine_.templates(sipvs::TemplateFilter{}, sipvs::monotonic_seconds());
  write_and_warn_if_not_synced(path, templates_file_text(list, now));
  return list.size();
}

std::size_t ControlPlane::restore_templates(std::time_t now) {
  const std::string& path = templates_file();
  if (path.empty()) return 0;
  try {
    const auto text = read_file_if_exists(path);
    if (!text) return 0;
    const SavedTemplates saved = templates_from_json(parse_json_text(*text), now);
    const sipvs::Seconds mono = sipvs::monotonic_seconds();
    std::array<std::size_t, static_cast<std::size_t>(sipvs::Restored::last) + 1> by_result{};
    for (const auto& t : saved.templates) ++by_result[static_cast<std::size_t>(engine_.restore_template(t, mono))];
    const std::size_t restored = by_result[static_cast<std::size_t>(sipvs::Restored::yes)];
    std::string skipped;
    for (std::size_t i = 1; i < by_result.size(); ++i)
      if (by_result[i] > 0)
        skipped += ", " + std::to_string(by_result[i]) + " " + std::string(to_string(static_cast<sipvs::Restored>(i)));
    LOG_NOTICE("restored %zu templates from %s (%zu had expired%s)", restored, path.c_str(), saved.expired,
               skipped.c_str());
    // The file stays: until the next save replaces it, it is what a start
    // after a crash or a failed start has to restore.
    return restored;
  } catch (const std::exception& e) {
    LOG_WARN("templates file %s is unusable (%s): starting without templates", path.c_str(), e.what());
    return 0;
  }
}

}  // namespace sipvsd
