#include <doctest/doctest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "daemon/config/control_plane.hpp"
#include "fixtures.hpp"
#include "packet_builder.hpp"
#include "daemon/config/state_file.hpp"
#include "daemon/config/template_saver.hpp"

using namespace sipvsd;
using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

sipvs::RealServerConfig server(const char* address, uint32_t mark) {
  sipvs::RealServerConfig r;
  r.address = *sipvs::IpAddress::parse(address);
  r.port = 5060;
  r.mark = mark;
  return r;
}

// Sends one INVITE per Call-ID through a worker: one template each.
void make_calls(sipvs::Engine& engine, int calls, sipvs::Seconds now) {
  auto w = engine.make_decider();
  for (int i = 0; i < calls; ++i) {
    const auto p = test::udp_packet("198.18.0.1", 5060, "198.18.2.100", 5060,
                                    test::invite("call-" + std::to_string(i) + "@198.18.0.1"));
    REQUIRE(w.decide(p, 0, now).template_created);
  }
}

// Runs `f` on a thread of its own without CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH (capabilities belong to a thread), so that a
// directory's permissions hold for root too; rethrows what `f` throws.
void without_dac_override(const std::function<void()>& f) {
  std::exception_ptr thrown;
  std::thread t([&] {
    try {
      __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
      if (::syscall(SYS_capget, &header, data) != 0) throw std::runtime_error("capget failed");
      for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) data[cap / 32].effective &= ~(1u << (cap % 32));
      if (::syscall(SYS_capset, &header, data) != 0) throw std::runtime_error("capset failed");
      f();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  t.join();
  if (thrown) std::rethrow_exception(thrown);
}

// A directory where files can be created and renamed but that cannot be
// opened for reading, so not fsynced: write_file_atomically's rename works,
// its directory sync fails.
std::string unsyncable_directory(const test::TempDir& dir) {
  const std::string d = dir.file("no-read");
  std::filesystem::create_directory(d);
  std::filesystem::permissions(d, std::filesystem::perms::owner_write | std::filesystem::perms::owner_exec);
  return d;
}

std::size_t templates_in_file(const std::string& path) {
  if (!std::filesystem::exists(path)) return 0;
  return json::parse(slurp(path))["templates"].size();
}

std::map<std::string, std::string> server_by_call(const sipvs::Engine& engine) {
  std::map<std::string, std::string> out;
  for (const auto& t : engine.templates({}, sipvs::monotonic_seconds()))
    out[t.pe_data] = t.server.to_string() + ":" + std::to_string(t.server_port);
  return out;
}

}  // namespace

TEST_CASE("an accepted change is applied to the engine and written to the state file") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("state.json"));
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  CHECK_FALSE(std::filesystem::exists(dir.file("state.json")));  // nothing changed yet

  cp.update([](DaemonConfig& c) { c.engine.services[0].servers.push_back(server("198.18.1.3", 3)); });
  CHECK(engine.config().services[0].servers.size() == 3);
  CHECK(cp.config().engine.services[0].servers.size() == 3);
  CHECK(cp.generation() == 1);

  const json state = json::parse(slurp(dir.file("state.json")));
  CHECK(state["services"][0]["servers"].size() == 3);
  CHECK(state["version"] == 1);
  // Only what the API changes is kept; queues, api... come from the config file.
  std::set<std::string> keys;
  for (auto it = state.begin(); it != state.end(); ++it) keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"version", "services", "udp_timeout", "mark_mask", "unplaced", "forwarding",
                                      "forwarding_options"});
  // No temporary file is left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
  CHECK((std::filesystem::status(dir.file("state.json")).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
}

TEST_CASE("a rejected change changes nothing: engine, configuration and state file") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("state.json"));
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  cp.update([](DaemonConfig& c) { c.engine.services[0].scheduler = "wrr"; });
  const std::string state_before = slurp(dir.file("state.json"));
  const json config_before = to_json(cp.config());
  const sipvs::EngineConfig engine_before = engine.config();

  auto rejected = [&](const std::function<void(DaemonConfig&)>& edit) {
    try {
      cp.update(edit);
    } catch (const ConfigFieldError& e) {
      CHECK(to_json(cp.config()) == config_before);
      CHECK(engine.config() == engine_before);
      CHECK(slurp(dir.file("state.json")) == state_before);
      return e;
    }
    FAIL("not rejected");
    return ConfigFieldError("", "");
  };

  SUBCASE("bad values are invalid") {
    auto e = rejected([](DaemonConfig& c) { c.engine.services[0].scheduler = "nope"; });
    CHECK(e.kind() == ConfigFieldError::Kind::invalid);
    CHECK(e.field() == "services[0].scheduler");
    e = rejected([](DaemonConfig& c) { c.engine.services[0].servers[0].weight = 70000; });
    CHECK(e.kind() == ConfigFieldError::Kind::invalid);
    e = rejected([](DaemonConfig& c) {
      c.mark_mask = 0xff00;  // the marks 1 and 2 lie outside it
    });
    CHECK(e.kind() == ConfigFieldError::Kind::invalid);
    CHECK(e.field() == "services[0].servers[0].mark");
  }
  SUBCASE("clashes between objects are conflicts") {
    auto second = [](DaemonConfig& c) {
      sipvs::ServiceConfig s = c.engine.services[0];
      s.name = "other";
      s.vip = *sipvs::IpAddress::parse("198.18.2.101");
      s.servers = {server("198.18.1.9", 9)};
      c.engine.services.push_back(s);
      return &c.engine.services.back();
    };
    const std::vector<std::pair<const char*, std::function<void(DaemonConfig&)>>> clashes = {
        {"name", [&](DaemonConfig& c) { second(c)->name = "sip"; }},
        {"vip",
         [&](DaemonConfig& c) {
           const auto vip = c.engine.services[0].vip;
           second(c)->vip = vip;
         }},
        {"mark", [&](DaemonConfig& c) { second(c)->servers[0].mark = 1; }},
        {"server", [](DaemonConfig& c) { c.engine.services[0].servers.push_back(server("198.18.1.1", 7)); }},
        {"fwmark",
         [&](DaemonConfig& c) {
           for (int i = 0; i < 2; ++i) {
             auto* s = second(c);
             s->name = "fw" + std::to_string(i);
             s->vip = {};
             s->port = 0;
             s->fwmark = 5;
             s->servers[0].mark = 20 + static_cast<uint32_t>(i);
           }
         }},
    };
    for (const auto& [what, edit] : clashes) {
      CAPTURE(what);
      CHECK(rejected(edit).kind() == ConfigFieldError::Kind::conflict);
    }
  }
  SUBCASE("an edit of one object has its clashes told from its side") {
    try {
      cp.update_one([](DaemonConfig& c) {
        c.engine.services[0].servers.push_back(server("198.18.1.3", 2));
        return sipvs::EditedObject{0, 2};
      });
      FAIL("not rejected");
    } catch (const ConfigFieldError& e) {
      CHECK(e.kind() == ConfigFieldError::Kind::conflict);
      CHECK(e.field() == "services[0].servers[2].mark");
      CHECK(e.reason() == "mark 0x00000002 is already used by server 198.18.1.2:5060 of service 'sip'");
    }
    CHECK(to_json(cp.config()) == config_before);
    CHECK(slurp(dir.file("state.json")) == state_before);
  }
  SUBCASE("settings that need a restart") {
    const char* fields[] = {"queues", "queue_maxlen", "state_file", "api", "max_templates", "templates_save_interval"};
    const std::function<void(DaemonConfig&)> edits[] = {
        [](DaemonConfig& c) { c.queues = {0, 1}; },
        [](DaemonConfig& c) { c.queue_maxlen = 10; },
        [](DaemonConfig& c) { c.state_file = "/elsewhere"; },
        [](DaemonConfig& c) { c.api.listen = "127.0.0.1:9"; },
        [](DaemonConfig& c) { c.engine.max_templates = 5; },
        [](DaemonConfig& c) { c.templates_save_interval = 1; },
    };
    for (std::size_t i = 0; i < std::size(edits); ++i) {
      const auto e = rejected(edits[i]);
      CHECK(e.kind() == ConfigFieldError::Kind::needs_restart);
      CHECK(e.field() == fields[i]);
    }
  }
  SUBCASE("an exception from the edit itself") {
    CHECK_THROWS_AS(cp.update([](DaemonConfig& c) {
      c.engine.services.clear();
      throw std::out_of_range("no such thing");
    }),
                    std::out_of_range);
    CHECK(to_json(cp.config()) == config_before);
    CHECK(engine.config().services.size() == 1);
  }
}

TEST_CASE("the engine's validation tells clashes between objects from bad values") {
  using Kind = sipvs::ConfigError::Kind;
  auto error_of = [](const std::function<void(sipvs::EngineConfig&)>& edit) {
    sipvs::EngineConfig c = test::sip_config().engine;
    edit(c);
    auto e = sipvs::validate(c);
    REQUIRE(e.has_value());
    return *e;
  };
  auto dup = [](sipvs::EngineConfig& c) -> sipvs::ServiceConfig& {
    c.services.push_back(c.services[0]);
    c.services[1].name = "b";
    c.services[1].vip = *sipvs::IpAddress::parse("198.18.2.7");
    c.services[1].servers = {server("198.18.1.8", 8)};
    return c.services[1];
  };
  CHECK(error_of([&](auto& c) { dup(c).name = "sip"; }).kind == Kind::conflict);
  CHECK(error_of([&](auto& c) {
          const auto vip = c.services[0].vip;
          dup(c).vip = vip;
        }).kind == Kind::conflict);
  CHECK(error_of([&](auto& c) { dup(c).servers[0].mark = 2; }).kind == Kind::conflict);
  CHECK(error_of([&](auto& c) {
          c.services[0].servers[1].address = c.services[0].servers[0].address;
        }).kind == Kind::conflict);
  CHECK(error_of([](auto& c) { c.services[0].scheduler = "x"; }).kind == Kind::invalid);
  CHECK(error_of([](auto& c) { c.services[0].servers[0].mark = 0; }).kind == Kind::invalid);
  CHECK(error_of([](auto& c) { c.services[0].name = "bad name"; }).kind == Kind::invalid);
}

TEST_CASE("a state file that cannot be written rejects the change") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("missing-dir/state.json"));
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  CHECK_THROWS_AS(cp.update([](DaemonConfig& c) { c.engine.services[0].servers.pop_back(); }), std::system_error);
  CHECK(engine.config().services[0].servers.size() == 2);
  CHECK(cp.config().engine.services[0].servers.size() == 2);
}

TEST_CASE("startup: the state file's services win over the config file's, its other settings do not") {
  test::TempDir dir;
  DaemonConfig file = test::sip_config(dir.file("state.json"));
  file.queue_maxlen = 4096;

  SUBCASE("no state file: the config file") {
    CHECK(ControlPlane::startup_config(file).daemon() == file);
  }
  SUBCASE("a valid state file") {
    {
      sipvs::Engine engine(file.engine);
      ControlPlane cp(engine, file);
      cp.update([](DaemonConfig& c) {
        c.engine.services[0].servers.erase(c.engine.services[0].servers.begin());
        c.unplaced = DaemonConfig::Unplaced::drop;
        c.debug_level = 7;
      });
    }
    DaemonConfig later = file;
    later.queue_maxlen = 1234;  // edited in the config file meanwhile
    const DaemonConfig c = ControlPlane::startup_config(later).daemon();
    REQUIRE(c.engine.services[0].servers.size() == 1);
    CHECK(c.engine.services[0].servers[0].mark == 2);
    CHECK(c.unplaced == DaemonConfig::Unplaced::drop);
    CHECK(c.queue_maxlen == 1234);
    CHECK(c.debug_level == file.debug_level);  // a diagnostic switch, not kept
  }
  SUBCASE("a state file written before format versions") {
    json state = json::parse(state_file_text(file));
    state.erase("version");
    state["services"][0]["servers"].erase(0);
    spit(dir.file("state.json"), state.dump(2));
    const DaemonConfig c = ControlPlane::startup_config(file).daemon();
    REQUIRE(c.engine.services[0].servers.size() == 1);
    CHECK(c.engine.services[0].servers[0].mark == 2);
  }
}

// What the operator made through the API is never dropped without a word: a
// state file that exists but cannot be used stops the start, says where and
// what, and stays as it was for the operator to fix or move aside.
TEST_CASE("startup refuses a state file it cannot use and leaves it untouched") {
  test::TempDir dir;
  const DaemonConfig file = test::sip_config(dir.file("state.json"));
  // A state file with two services, as the API writes it.
  std::string valid;
  {
    sipvs::Engine engine(file.engine);
    ControlPlane cp(engine, file);
    cp.update([](DaemonConfig& c) {
      sipvs::ServiceConfig s = c.engine.services[0];
      s.name = "other";
      s.vip = *sipvs::IpAddress::parse("198.18.2.101");
      s.servers = {server("198.18.1.9", 9)};
      c.engine.services.push_back(s);
    });
    valid = slurp(dir.file("state.json"));
  }
  REQUIRE(ControlPlane::startup_config(file).daemon().engine.services.size() == 2);

  auto refused = [&](const std::string& text) {
    spit(dir.file("state.json"), text);
    std::string what;
    try {
      ControlPlane::startup_config(file);
      FAIL("started with an unusable state file");
    } catch (const UnusableFile& e) {
      what = e.what();
    }
    CHECK(slurp(dir.file("state.json")) == text);
    CHECK(what.find("state file " + dir.file("state.json")) == 0);
    CHECK(what.find("fix it, or move it aside") != std::string::npos);
    return what;
  };
  auto edited = [&](const std::function<void(json&)>& edit) {
    json state = json::parse(valid);
    edit(state);
    return state.dump(2);
  };

  SUBCASE("cut in half: path:line:column") {
    const std::string what = refused(valid.substr(0, valid.size() / 2));
    const std::size_t lines = static_cast<std::size_t>(std::count(valid.begin(), valid.begin() + valid.size() / 2, '\n'));
    CAPTURE(what);
    CHECK(what.find(dir.file("state.json") + ":" + std::to_string(lines + 1) + ":") != std::string::npos);
  }
  SUBCASE("empty") { refused(""); }
  SUBCASE("nested as deep as a file can be: refused, not a stack overflow") {
    const std::string deep = "{\"services\": " + std::string(1 << 20, '[') + std::string(1 << 20, ']') + "}";
    CHECK(refused(deep).find("nested deeper than 32 levels") != std::string::npos);
  }
  SUBCASE("one bad field names it") {
    const std::string what =
        refused(edited([](json& s) { s["services"][1]["servers"][0]["weight"] = "heavy"; }));
    CHECK(what.find("services[1].servers[0].weight") != std::string::npos);
  }
  SUBCASE("a duplicate service name") {
    const std::string what = refused(edited([](json& s) { s["services"][1]["name"] = "sip"; }));
    CHECK(what.find("services[1].name") != std::string::npos);
  }
  SUBCASE("a duplicate key") {
    const std::string what = refused("{\"services\": [], \"services\": []}");
    CHECK(what.find("services: duplicate key") != std::string::npos);
  }
  SUBCASE("a newer format version, even with keys this sipvsd does not know") {
    const std::string what = refused(edited([](json& s) {
      s["version"] = 2;
      s["templates_elsewhere"] = true;
    }));
    CHECK(what.find("version: 2: written by a newer sipvsd") != std::string::npos);
  }
  SUBCASE("a version that is not one") {
    for (const json& v : {json(0), json("1"), json(-1), json(1.5)}) refused(edited([&](json& s) { s["version"] = v; }));
  }
  SUBCASE("not an object, or a key that is not the state file's") {
    refused("[]");
    const std::string what = refused(edited([](json& s) { s["queues"] = 3; }));
    CHECK(what.find("queues: not a key of the state file") != std::string::npos);
  }
  SUBCASE("services that clash with the config file's mark_mask") {
    DaemonConfig masked = file;
    masked.mark_mask = 0xff00;
    masked.engine.services.clear();
    const std::string text = edited([](json& s) { s.erase("mark_mask"); });
    spit(dir.file("state.json"), text);
    CHECK_THROWS_AS(ControlPlane::startup_config(masked), UnusableFile);
    CHECK(slurp(dir.file("state.json")) == text);
  }
  SUBCASE("a state file that cannot be read") {
    std::filesystem::remove(dir.file("state.json"));
    std::filesystem::create_directory(dir.file("state.json"));
    CHECK_THROWS_AS(ControlPlane::startup_config(file), UnusableFile);
  }
}

// IPVS-style durability: the rename is the change; a directory that cannot
// be synced afterwards leaves the new file in place, and says so.
TEST_CASE("a directory sync failing after the rename: the file was replaced, and that is what is reported") {
  test::TempDir dir;
  const std::string locked = unsyncable_directory(dir);
  const std::string path = locked + "/file";
  spit(path, "old\n");
  without_dac_override([&] {
    try {
      write_file_atomically(path, "new\n");
      FAIL("the directory sync did not fail: the test's premise is broken");
    } catch (const WrittenNotSynced& e) {
      CHECK(std::string(e.what()).find(path + " written, but its directory " + locked + " could not be synced") == 0);
      CHECK(std::string(e.what()).find("may not survive a power loss") != std::string::npos);
      CHECK(e.error() == EACCES);
    }
  });
  CHECK(slurp(path) == "new\n");
}

TEST_CASE("a change whose state file was replaced but not synced is made, and the control plane knows the file") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(unsyncable_directory(dir) + "/state.json");
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  without_dac_override([&] {
    // Made: in the engine, the configuration and the file.
    cp.update([](DaemonConfig& c) { c.engine.services[0].servers.pop_back(); });
    CHECK(engine.config().services[0].servers.size() == 1);
    CHECK(cp.config().engine.services[0].servers.size() == 1);
    CHECK(cp.generation() == 1);
    CHECK(json::parse(slurp(start.state_file))["services"][0]["servers"].size() == 1);
    // Back to the start: the file must follow (it holds the change above,
    // whatever the control plane thought it held).
    cp.update([&](DaemonConfig& c) { c.engine.services = start.engine.services; });
    CHECK(json::parse(slurp(start.state_file))["services"][0]["servers"].size() == 2);
  });
}

TEST_CASE("reload takes the file's services and keeps the settings that need a restart") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("state.json"));
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  DaemonConfig file = start;
  file.engine.services[0].servers.pop_back();
  file.queues = {3};
  CHECK(cp.reload(file, "test.json"));
  CHECK(cp.config().queues == start.queues);
  CHECK(engine.config().services[0].servers.size() == 1);
  CHECK(json::parse(slurp(dir.file("state.json")))["services"][0]["servers"].size() == 1);

  file.engine.services[0].scheduler = "nope";
  CHECK_FALSE(cp.reload(file, "test.json"));
  CHECK(engine.config().services[0].scheduler == "rr");
}

TEST_CASE("templates survive a restart on the same real servers; expired and orphaned ones do not") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("state.json"));
  std::map<std::string, std::string> before;
  {
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    make_calls(engine, 50, sipvs::monotonic_seconds());
    before = server_by_call(engine);
    REQUIRE(before.size() == 50);
    CHECK(cp.save_templates(1'000'000) == 50);
  }
  REQUIRE(std::filesystem::exists(dir.file("state.json.templates")));

  SUBCASE("restored as they were") {
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'010) == 50);
    CHECK(server_by_call(engine) == before);
    for (const auto& t : engine.templates({}, sipvs::monotonic_seconds())) {
      CHECK(t.expires_in <= 110);  // 120 s timeout, 10 s spent "down"
      CHECK(t.expires_in >= 105);
    }
    // Left in place: a start that fails, or a crash before the next save,
    // must find them again.
    CHECK(std::filesystem::exists(dir.file("state.json.templates")));
    sipvs::Engine again(start.engine);
    ControlPlane cp_again(again, start);
    CHECK(cp_again.restore_templates(1'000'020) == 50);
    CHECK(server_by_call(again) == before);
  }
  SUBCASE("down longer than their lifetime: none") {
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'000 + 121) == 0);
    CHECK(engine.template_count() == 0);
  }
  SUBCASE("a real server removed meanwhile loses its templates, the other keeps its own") {
    DaemonConfig smaller = start;
    smaller.engine.services[0].servers.pop_back();  // 198.18.1.2 is gone
    sipvs::Engine engine(smaller.engine);
    ControlPlane cp(engine, smaller);
    std::size_t on_first = 0;
    for (const auto& [call, srv] : before) on_first += srv == "198.18.1.1:5060";
    CHECK(cp.restore_templates(1'000'000) == on_first);
    for (const auto& [call, srv] : server_by_call(engine)) CHECK(srv == "198.18.1.1:5060");
  }
  SUBCASE("a file nested as deep as a file can be is skipped, not a stack overflow") {
    spit(dir.file("state.json.templates"),
         "{\"saved_at\": 1, \"templates\": " + std::string(1 << 20, '[') + std::string(1 << 20, ']') + "}");
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'000) == 0);
  }
  SUBCASE("a corrupt file is skipped (the next save replaces it)") {
    spit(dir.file("state.json.templates"), "{\"saved_at\": 1, \"templates\": [{}]}");
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'000) == 0);
    CHECK(engine.template_count() == 0);
  }
  SUBCASE("a file from a newer sipvsd is not read") {
    json saved = json::parse(slurp(dir.file("state.json.templates")));
    CHECK(saved["version"] == 1);
    saved["version"] = 2;
    spit(dir.file("state.json.templates"), saved.dump());
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'000) == 0);
  }
  SUBCASE("a file written before format versions") {
    json saved = json::parse(slurp(dir.file("state.json.templates")));
    saved.erase("version");
    spit(dir.file("state.json.templates"), saved.dump());
    sipvs::Engine engine(start.engine);
    ControlPlane cp(engine, start);
    CHECK(cp.restore_templates(1'000'000) == 50);
  }
}

TEST_CASE("without a state file nothing is written") {
  const DaemonConfig start = test::sip_config();
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  cp.update([](DaemonConfig& c) { c.engine.services[0].servers.pop_back(); });
  CHECK(engine.config().services[0].servers.size() == 1);
  CHECK(cp.save_templates(0) == 0);
  CHECK(cp.restore_templates(0) == 0);
}

TEST_CASE("the template saver writes the templates periodically and a last time at stop") {
  test::TempDir dir;
  const DaemonConfig start = test::sip_config(dir.file("state.json"));
  const std::string file = dir.file("state.json.templates");
  sipvs::Engine engine(start.engine);
  ControlPlane cp(engine, start);
  make_calls(engine, 20, sipvs::monotonic_seconds());

  // What a crash would find: restored as saved.
  auto restored = [&] {
    sipvs::Engine after(start.engine);
    ControlPlane cp_after(after, start);
    return cp_after.restore_templates(std::time(nullptr));
  };
  SUBCASE("every interval, without waiting for the stop") {
    TemplateSaver saver(cp, std::chrono::seconds(1));
    // Bounded: 1 s interval, 10 s at most.
    for (int i = 0; i < 100 && templates_in_file(file) < 20; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(templates_in_file(file) == 20);
    CHECK(restored() == 20);
    sipvs::TemplateFilter one;
    one.pe_data = "call-0@198.18.0.1";
    CHECK(engine.flush_templates(one) == 1);
    saver.stop_and_save();  // the last state, not the last periodic write's
    CHECK(templates_in_file(file) == 19);
  }
  SUBCASE("interval 0: only at stop") {
    TemplateSaver saver(cp, std::chrono::seconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK_FALSE(std::filesystem::exists(file));
    saver.stop_and_save();
    CHECK(templates_in_file(file) == 20);
    CHECK(restored() == 20);
  }
  SUBCASE("a start that fails (no stop_and_save) leaves the file as the last write made it") {
    spit(file, "kept");
    { TemplateSaver saver(cp, std::chrono::seconds(30)); }
    CHECK(slurp(file) == "kept");
  }
}
