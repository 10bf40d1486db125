// sipvsd: load-balances SIP over UDP by Call-ID. Packets come from NFQUEUE,
// the engine picks a real server, the verdict carries its mark, the kernel
// forwards by mark. This file only parses the command line and runs the pieces.
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "api/api.hpp"
#include "daemon/config/config_file.hpp"
#include "daemon/config/queue_spec.hpp"
#include "daemon/config/control_plane.hpp"
#include "daemon/daemon.hpp"
#include "daemon/log.hpp"
#include "daemon/tools/replay.hpp"
#include "daemon/forwarding/rules_text.hpp"
#include "daemon/systemd/service_supervisor.hpp"
#include "daemon/config/template_saver.hpp"

#ifndef SIPVSD_VERSION
#define SIPVSD_VERSION "unknown"
#endif

namespace {

constexpr const char* kDefaultConfig = "/etc/sipvsd/sipvsd.json";
// Templates written to the log by the dump signal.
constexpr std::size_t kDumpTemplates = 20;

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: sipvsd [--config FILE] [--queue LIST] [--debug N]\n"
               "       sipvsd --check-config FILE\n"
               "       sipvsd rules [--config FILE] [--format iptables|nft]\n"
               "       sipvsd replay [--config FILE] CAPTURE.pcap\n"
               "       sipvsd --version | --help\n"
               "\n"
               "  --config FILE        configuration (default %s)\n"
               "  --queue LIST         NFQUEUE numbers, e.g. 0-1 (overrides the file's \"queues\")\n"
               "  --debug N            debug level 0..10 (9+: every packet's decision)\n"
               "  --check-config FILE  validate FILE and exit\n"
               "  rules                print the kernel rules for the config: NFQUEUE (iptables commands,\n"
               "                       or an nft ruleset with --format nft), policy routing, ipvsadm\n"
               "  replay               print the decision for each packet of a capture\n"
               "\n"
               "signals: TERM/INT stop, HUP reloads the configuration, USR1/USR2 raise/lower\n"
               "the debug level, RTMIN logs counters and %zu templates.\n",
               kDefaultConfig, kDumpTemplates);
}

struct Options {
  std::string command;  // "", "rules", "replay"
  std::string config = kDefaultConfig;
  std::optional<std::string> check_config;
  std::optional<std::vector<uint16_t>> queues;
  std::optional<unsigned> debug;
  std::optional<sipvsd::RulesFormat> rules_format;  // --format; rules prints iptables without it
  std::vector<std::string> args;
};

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "sipvsd: %s\n", why.c_str());
  usage(stderr);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::string {
      if (i + 1 >= argc) bad_usage(std::string(name) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--version" || a == "-V") {
      std::printf("sipvsd %s\n", SIPVSD_VERSION);
      std::exit(0);
    } else if (a == "--config" || a == "-c") {
      o.config = value(a);
    } else if (a == "--check-config") {
      o.check_config = value(a);
    } else if (a == "--queue" || a == "-q") {
      try {
        o.queues = sipvsd::parse_queue_spec(value(a));
      } catch (const std::invalid_argument& e) {
        bad_usage(std::string("--queue: ") + e.what());
      }
    } else if (a == "--debug" || a == "-d") {
      const std::string v = value(a);
      char* end = nullptr;
      const unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n > sipvsd::log::kMaxDebug) bad_usage("--debug: 0..10 expected");
      o.debug = static_cast<unsigned>(n);
    } else if (a == "--format") {
      const auto f = sipvsd::rules_format_from_string(value(a));
      if (!f) bad_usage("--format: iptables or nft expected");
      o.rules_format = *f;
    } else if (!a.empty() && a[0] == '-') {
      bad_usage("unknown option " + std::string(a));
    } else if (o.command.empty() && (a == "rules" || a == "replay")) {
      o.command = a;
    } else {
      o.args.emplace_back(a);
    }
  }
  return o;
}

// The config file as the running daemon sees it: --queue wins over its
// queues (at start, on reload, in the rules printed). Not checked yet: what
// takes it checks it, once. Throws UnusableFile.
sipvsd::DaemonConfig read_config(const std::string& path, const Options& o) {
  sipvsd::DaemonConfig c = sipvsd::load_config_file(path);
  if (o.queues) c.queues = *o.queues;
  return c;
}

// The config file checked, for the commands that start no daemon.
std::optional<sipvsd::CheckedConfig> load(const Options& o) {
  try {
    return sipvsd::check_config(read_config(o.config, o));
  } catch (const sipvsd::UnusableFile& e) {
    LOG_ERR("%s", e.what());
  } catch (const sipvsd::ConfigFieldError& e) {
    LOG_ERR("%s: %s", o.config.c_str(), e.what());
  }
  return std::nullopt;
}

// What a start runs with: the config file, with the state file's services
// when there is one, its API files checked. `--check-config` runs exactly
// this, and stops short of binding. Throws UnusableFile, or what
// check_api_files throws.
sipvsd::CheckedConfig startup_config(const std::string& path, const Options& o) {
  const sipvsd::DaemonConfig from_file = read_config(path, o);
  std::optional<sipvsd::CheckedConfig> c;
  try {
    c.emplace(sipvsd::ControlPlane::startup_config(from_file));
  } catch (const sipvsd::ConfigFieldError& e) {
    throw sipvsd::UnusableFile(path + ": " + e.what());
  }
  sipvsd::api::check_api_files(c->daemon().api);
  return std::move(*c);
}

// `systemctl start` runs this first.
int check_config(const std::string& path, const Options& o) {
  std::optional<sipvsd::CheckedConfig> checked;
  try {
    checked.emplace(startup_config(path, o));
  } catch (const sipvsd::UnusableFile& e) {
    LOG_ERR("%s", e.what());
    return 1;
  } catch (const std::exception& e) {
    LOG_ERR("%s: %s", path.c_str(), e.what());
    return 1;
  }
  const sipvsd::DaemonConfig& c = checked->daemon();
  std::size_t servers = 0;
  for (const auto& s : c.engine.services) servers += s.servers.size();
  std::printf("%s: OK (%zu services, %zu real servers, queues %s)\n", path.c_str(), c.engine.services.size(),
              servers, sipvsd::queue_spec_to_string(c.queues).c_str());
  return 0;
}

int print_rules(const Options& o) {
  if (!o.args.empty()) bad_usage("rules takes no arguments");
  auto c = load(o);
  if (!c) return 1;
  const auto format = o.rules_format.value_or(sipvsd::RulesFormat::iptables);
  std::fputs(sipvsd::render_rules(c->daemon(), o.config, format).c_str(), stdout);
  return 0;
}

int replay(const Options& o) {
  if (o.args.size() != 1) bad_usage("replay needs one capture file");
  auto c = load(o);
  if (!c) return 1;
  try {
    sipvs::Engine engine(c->engine());
    const sipvsd::ReplaySummary s = sipvsd::replay_capture(engine, o.args[0], stdout);
    std::printf("# %llu frames, %llu IP packets decided, %llu placed, %llu reassembled from %llu fragments, "
                "%llu frames skipped (not IP)\n",
                static_cast<unsigned long long>(s.frames), static_cast<unsigned long long>(s.ip_packets),
                static_cast<unsigned long long>(s.placed), static_cast<unsigned long long>(s.reassembled),
                static_cast<unsigned long long>(s.fragments + s.reassembled),
                static_cast<unsigned long long>(s.skipped));
  } catch (const std::exception& e) {
    LOG_ERR("replay: %s", e.what());
    return 1;
  }
  return 0;
}

// Signals are taken synchronously by the main thread (sigwaitinfo); every
// thread started from here inherits the mask and never sees them.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGRTMIN}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return set;
}

// The parts of a running sipvsd, destroyed in the reverse order of their start.
struct Running {
  std::optional<sipvsd::Daemon> daemon;
  // Every configuration change (REST API, SIGHUP) goes through the control
  // plane: validated, saved in the state file, then applied by the daemon.
  std::optional<sipvsd::ControlPlane> control;
  std::optional<sipvsd::api::Api> api;
  std::optional<sipvsd::TemplateSaver> templates;  // periodic writes of the templates file
  std::optional<sipvsd::ServiceSupervisor> supervisor;  // what systemd is told
};

// Throws.
void start_parts(Running& r, const sipvsd::CheckedConfig& checked) {
  const sipvsd::DaemonConfig& config = checked.daemon();
  sipvsd::Daemon& daemon = r.daemon.emplace(checked);
  r.control.emplace(daemon.engine(), config,
                    [&daemon](const sipvsd::CheckedConfig& next, const sipvsd::DaemonConfig& running) {
                      return daemon.apply(next, running);
                    });
  // Before any queue is bound (a queue decides packets from its bind on),
  // so that no packet of a call in progress is scheduled anew. The file
  // stays until the next save: a start that fails here loses nothing.
  r.control->restore_templates(std::time(nullptr));
  r.api.emplace(*r.control, config.api,
                sipvsd::api::DaemonReadouts{[&daemon] { return daemon.queue_stats(); },
                                            [&daemon] { return daemon.health_statuses(); },
                                            [&daemon] { return daemon.sync_status(); },
                                            [&daemon] { return daemon.fast_path_stats(); }});
  daemon.start(config);
  r.templates.emplace(*r.control, std::chrono::seconds(config.templates_save_interval));
  r.api->start();
  r.supervisor.emplace(daemon, *r.control, config.queues);
}

// The next blocked signal, or 0 when `wait` passes first (forever without one).
int next_signal(const sigset_t& set, std::optional<std::chrono::milliseconds> wait) {
  siginfo_t info;
  if (!wait) return sigwaitinfo(&set, &info);
  const timespec ts{static_cast<time_t>(wait->count() / 1000), static_cast<long>(wait->count() % 1000) * 1000000};
  const int sig = sigtimedwait(&set, &info, &ts);
  return sig < 0 && errno == EAGAIN ? 0 : sig;
}

// Serves the blocked signals until one says stop, and tells systemd how
// sipvsd is between them.
void serve_signals(const sigset_t& set, Running& r, const Options& o) {
  const std::optional<std::chrono::milliseconds> tick = r.supervisor->tick_interval();
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    if (tick && std::chrono::steady_clock::now() >= next_tick) {
      r.supervisor->tick();
      next_tick = std::chrono::steady_clock::now() + *tick;
    }
    const int sig = next_signal(set, tick);
    if (sig <= 0) continue;  // a tick, or EINTR
    if (sig == SIGTERM || sig == SIGINT) {
      LOG_NOTICE("signal %s: stopping", strsignal(sig));
      return;
    }
    if (sig == SIGHUP) {
      try {
        r.control->reload(read_config(o.config, o), o.config);
      } catch (const sipvsd::UnusableFile& e) {
        LOG_ERR("reload: %s; keeping the running configuration", e.what());
      }
    } else if (sig == SIGUSR1 || sig == SIGUSR2) {
      const unsigned level = sipvsd::log::debug_level();
      sipvsd::log::set_debug_level(sig == SIGUSR1 ? level + 1 : (level > 0 ? level - 1 : 0));
      LOG_NOTICE("debug level %u", sipvsd::log::debug_level());
    } else if (sig == SIGRTMIN) {
      r.daemon->log_dump(kDumpTemplates);
    }
  }
}

void stop_parts(Running& r) {
  r.supervisor->stopping();
  r.api->stop();
  r.daemon->stop();
  // The workers have stopped: these are the templates of the calls in progress.
  r.templates->stop_and_save();
  r.daemon->log_dump(0);
  LOG_NOTICE("stopped");
}

int run(const Options& o) {
  if (!o.args.empty()) bad_usage("unexpected argument " + o.args[0]);
  const sigset_t signals = block_signals();
  std::optional<sipvsd::CheckedConfig> config;
  try {
    config.emplace(startup_config(o.config, o));
  } catch (const std::exception& e) {
    LOG_ERR("cannot start: %s", e.what());
    return 1;
  }
  sipvsd::log::set_debug_level(o.debug ? *o.debug : config->daemon().debug_level);

  Running running;
  try {
    start_parts(running, *config);
  } catch (const std::exception& e) {
    LOG_ERR("cannot start: %s", e.what());
    return 1;
  }
  LOG_NOTICE("sipvsd %s started with %s (debug level %u)", SIPVSD_VERSION, o.config.c_str(),
             sipvsd::log::debug_level());
  running.supervisor->ready();
  serve_signals(signals, running, o);
  stop_parts(running);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (o.rules_format && o.command != "rules") bad_usage("--format is an option of rules");
  if (o.check_config) return check_config(*o.check_config, o);
  if (o.command == "rules") return print_rules(o);
  if (o.command == "replay") return replay(o);
  return run(o);
}
