#pragma once
// The engine: for each packet, a decision (which real server, as its mark),
// from services, persistence engines, schedulers and the template table.
// Data-path threads decide concurrently, each through its own Decider; the control
// plane (API, reload, housekeeping) calls the Engine's other members.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine_config.hpp"
#include "engine/parse/packet_view.hpp"
#include "engine/pe/persistence_engine.hpp"
#include "engine/template_key.hpp"
#include "engine/thread_safety.hpp"

namespace sipvs {

// Seconds on the monotonic clock; templates expire on it.
using Seconds = uint32_t;
Seconds monotonic_seconds();

inline constexpr unsigned kMaxDeciders = 32;  // deciders, each with its own counter slots

enum class Outcome : uint8_t {
  placed,      // `mark` is the chosen real server's mark
  no_service,  // no virtual service matches the packet
  no_server,   // the service has no available real server, or each is at its max_calls
  bad_packet,  // not a parsable IP packet (see packet_status)
  // From a service's own VIP and port: a message a real server sends out (a
  // call it places, or its answers in direct routing). Not yet counted: the
  // caller hands the decision to learn() with the server that sent it.
  outgoing,
  learned,         // learn(): the call's template names the server that sent it
  unknown_sender,  // learn(): the sender is not a server of the service that takes calls
};
std::string_view to_string(Outcome o);

struct Decision {
  Outcome outcome = Outcome::bad_packet;
  PacketView packet;  // as parsed (see packet_status); points into the packet's buffer
  uint32_t mark = 0;
  PacketStatus packet_status = PacketStatus::ok;
  PeStatus pe_status = PeStatus::matched;  // meaningful when the service has a PE
  bool pe_used = false;           // the template key included pe data
  bool template_hit = false;      // an existing template decided (learn(): it named the sender already)
  bool template_created = false;  // a new template was stored
  bool template_moved = false;    // learn() or a tag: the call's template now names that server instead of another
  bool table_full = false;        // scheduled without storing a template (cap reached)
  bool rate_limited = false;      // scheduled without a template (per-source limit)
  bool tagged = false;            // the message named its server with a tag (sip-tag PE)
  bool servers_full = false;      // no_server: servers took calls, but each was at its max_calls
  std::string_view pe_data;       // valid until the next decide() of this decider
  std::string_view tag;           // the tag the message carried, if any; as long as pe_data
  const ServiceConfig* service = nullptr;  // valid until the decider's next refresh()
  const RealServerConfig* server = nullptr;
};

struct TemplateInfo {
  std::string service;
  uint8_t protocol = 0;
  IpAddress client;  // masked, as in the key
  uint16_t client_port = 0;
  IpAddress vip;
  uint16_t vport = 0;
  uint32_t fwmark = 0;
  IpAddress server;
  uint16_t server_port = 0;
  uint32_t mark = 0;
  std::string pe_name;    // empty when the template has no pe data
  std::string pe_data;    // raw bytes
  std::string pe_shown;   // printable, from the PE's show_pe_data
  Seconds expires_in = 0;
  bool learned = false;   // made or last moved by a message the server sent (Decider::learn)
};

// A template change for the other directors (Engine::drain_changes), or
// one they sent (Engine::install_change). The service and the real server
// go by identity: protocol, vip and vport or fwmark; server and server_port
// (unset when erased). `service` is filled for logs, not read.
struct TemplateChangeInfo {
  bool erased = false;
  TemplateInfo info;
};

// What Engine::install_change did.
enum class Installed : uint8_t {
  stored,        // a new template, or an older one updated
  kept_local,    // the local one lives as long or longer: it is the newer
  erased,
  absent,        // an erasure of a template this engine does not hold
  service_gone,  // no service with that VIP and port or fwmark
  server_gone,   // the service has no such server, or its calls are being moved away
  unusable,      // no time left, or pe data of another persistence engine
  not_stored,    // the table is full
  last = not_stored,
};
inline constexpr std::size_t kInstalledCount = static_cast<std::size_t>(Installed::last) + 1;
std::string_view to_string(Installed i);

// What became of a template given to Engine::restore_template.
enum class Restored : uint8_t {
  yes,
  service_gone,  // no service of that name
  server_gone,   // the service has no such server
  unusable,      // no time left, or pe data the service cannot hold
  not_stored,    // the table is full, or already holds the call
  last = not_stored,
};
std::string_view to_string(Restored r);

struct TemplateFilter {
  std::optional<std::string> service;
  std::optional<IpAddress> server;
  std::optional<uint16_t> server_port;
  std::optional<std::string> pe_data;  // exact match (a Call-ID)
  std::optional<IpAddress> client;
  std::size_t offset = 0;
  std::size_t limit = SIZE_MAX;
};

struct Counters {
  uint64_t packets = 0, bytes = 0, templates_created = 0, pe_fallbacks = 0;
  // Messages the real servers sent out (learn()), and the templates they
  // or tagged messages created or moved to the server they name.
  uint64_t outgoing_packets = 0, templates_learned = 0;
  uint64_t tagged_packets = 0;  // messages that named their server with a tag (sip-tag PE)
};

struct ServerStats {
  IpAddress address;
  uint16_t port = 0;
  uint32_t mark = 0, weight = 0;
  bool up = true;
  Counters counters;
  int64_t live_templates = 0;  // its calls in progress
  uint32_t max_calls = 0;      // as configured; 0: no limit
  bool overloaded = false;     // at its max_calls: gets no new calls until below min_calls
  bool drained = false;        // weight 0 and no live templates left: no call needs it
};

struct ServiceStats {
  std::string name;
  Counters counters;
  std::array<uint64_t, kPeStatusCount> fallbacks_by_reason{};  // index: PeStatus
  uint64_t no_server = 0;   // packets with no available real server
  uint64_t servers_full = 0;  // of those, packets of new calls that found each one at its max_calls
  uint64_t table_full = 0;    // new sessions not stored because the table was full
  uint64_t rate_limited = 0;  // new sessions not stored: their source was over its limit
  uint64_t unknown_sender = 0;  // outgoing messages whose sender is not one of its servers taking calls
  uint64_t unknown_tag = 0;     // tags that named none of its servers holding calls (the template decided)
  std::vector<ServerStats> servers;
};

struct EngineStats {
  std::vector<ServiceStats> services;
  uint64_t packets = 0;
  uint64_t no_service = 0;
  std::array<uint64_t, kPacketStatusCount> bad_packets{};  // index: PacketStatus (ok stays 0)
  uint64_t templates_live = 0;
  uint64_t templates_max = 0;
  uint64_t templates_expired = 0;
  uint64_t table_full = 0;
  uint64_t rate_limited = 0;
  uint64_t schedulers_built = 0;  // by changes; a service whose servers did not change keeps its scheduler
  uint64_t changes_dropped = 0;   // template changes the change log had no room for (template sync)
};

// A real server's health as the health checks tell the engine.
enum class ServerHealth : uint8_t {
  up,
  down,           // keeps its templates, gets no new ones (on_down keep)
  down_expiring,  // its templates go, its calls are rescheduled (on_down expire)
};
// What Engine::set_server_health did.
enum class HealthChange : uint8_t { changed, unchanged, no_such_server };

class Snapshot;
class SnapshotBuilder;
struct ServiceSlotCounters;
class SourceLimiter;
class TemplateMirror;
class TemplateTable;
struct Template;
class ChangeRing;
struct ServerEntry;
struct ServiceEntry;
enum class ServerFit : uint8_t;

class Engine {
 public:
  explicit Engine(ValidConfig config);
  // For tools and tests: validates first; throws std::invalid_argument with
  // ConfigError::message() if `config` is invalid.
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Publishes a new configuration atomically: a decider decides with the old
  // or the new one, never a mix. Templates of removed real servers are
  // dropped; those of quiesced (weight 0) servers are kept. Refuses (changing
  // nothing) only what the running engine cannot take: a new table size, or
  // more slots than it has while old and new coexist.
  std::optional<ConfigError> apply(ValidConfig config);
  // For tools and tests: validated() first.
  std::optional<ConfigError> apply(EngineConfig config);
  EngineConfig config() const;

  // Sets a real server's health (health checks): a server down gets no new
  // templates; down_expiring drops its templates too, so its calls move.
  HealthChange set_server_health(std::string_view service, const IpAddress& address, uint16_t port,
                                 ServerHealth health);

  class Decider {
   public:
    ~Decider();
    Decider(Decider&&) noexcept;
    // Picks up a newer configuration; call between batches, not per packet.
    void refresh();
    // EngineConfig::caller_data of the configuration refresh() picked up.
    uint64_t caller_data() const;
    Decision decide(std::span<const uint8_t> packet, uint32_t packet_mark, Seconds now);
    // For a decision of Outcome::outgoing, before the next refresh(): the
    // message's call gets a template naming the real server that sent it,
    // keyed by the remote party as the client, so that what comes back
    // (responses, in-dialog requests) reaches that server. The sender is
    // the one server of the service among `sender_addresses` (the addresses
    // of the host it came from; none: not known). As IPVS's ip_vs_out
    // looks at what a real server sends. Counts the message.
    void learn(Decision& d, std::span<const IpAddress> sender_addresses, Seconds now);
    // The template mirror's copies of what this decider decided, which it
    // may hold back (template_mirror.hpp), go now: call it before waiting
    // for more packets, not per packet.
    void flush_mirror();

   private:
    friend class Engine;
    Decider(Engine& engine, unsigned slot);
    std::string_view find_pe_data(const ServiceEntry& svc, Decision& d);
    std::optional<uint32_t> schedule(const ServiceEntry& svc, std::string_view pe_data, Decision& d) const;
    std::optional<uint32_t> sched_persist(const ServiceEntry& svc, std::string_view pe_data, Seconds now, Decision& d);
    ServerFit fit(const ServiceEntry& svc, uint32_t ref) const;
    bool source_allows(const IpAddress& source, Seconds now) const;
    void used(Template& t, const ServiceEntry& svc, Seconds now, bool changed);
    const ServerEntry* sender_entry(const ServiceEntry& svc, std::span<const IpAddress> addresses,
                                    uint16_t sport) const;
    const ServerEntry* tagged_server(const ServiceEntry& svc, Decision& d);
    void bind_template(const ServiceEntry& svc, const ServerEntry& server, const TemplateKey& key, bool limit_source,
                       Seconds now, Decision& d);
    void count(const Decision& d, const ServiceEntry* svc, const ServerEntry* server, std::size_t bytes);
    void count_outgoing(const Decision& d, ServiceSlotCounters& sc, const ServerEntry* server);

    Engine* engine_;
    unsigned slot_;
    uint64_t generation_ = 0;
    std::shared_ptr<const Snapshot> snapshot_;
    SipScratch scratch_{};
    SipScratch tag_scratch_{};  // the tag's header, apart from the Call-ID's
    ChangeRing* changes_ = nullptr;  // this decider's change log, when sync is on
  };
  // At most kMaxDeciders deciders exist at once; throws std::length_error beyond.
  Decider make_decider();

  // Expires up to `budget` templates' worth of buckets; returns how many were removed.
  // Called often with a small budget: expiry never stops the world.
  std::size_t expire_step(Seconds now, std::size_t budget);

  // Template sync. Call once, before the first make_decider(): from then on
  // each decider logs, to a ring of `per_decider` changes, the templates it
  // creates or moves and those it refreshes when half their timeout has
  // passed since the last time (before a peer's copy could expire); the
  // control plane logs the ones it erases (flush, a server removed or
  // expiring). A full ring drops the change and counts it.
  void enable_change_log(std::size_t per_decider);
  // A copy of the templates kept elsewhere (template_mirror.hpp): set before
  // the first make_decider(), cleared (nullptr) before the mirror goes.
  void set_template_mirror(TemplateMirror* mirror);
  // The sync thread's (one caller): up to `max` logged changes, oldest first,
  // described against the running configuration; one whose service or
  // server has gone since is skipped.
  std::size_t drain_changes(std::vector<TemplateChangeInfo>& out, std::size_t max, Seconds now);
  // A change a peer sent, installed as if decided here: it never replaces a
  // template that lives longer here; a server this engine lacks, or whose
  // calls are being moved away, gets nothing. Not logged again (no echo).
  Installed install_change(const TemplateChangeInfo& change, Seconds now);
  // The whole table in steps, for a peer's bulk resync: the live templates
  // of up to `buckets` buckets from `cursor` on, as changes to install
  // (`cursor` starts default-constructed; done() at the end). Every template
  // that lives through the walk is seen, some twice.
  struct WalkCursor {
    std::size_t shard = 0, bucket = 0;
    bool done() const { return shard == SIZE_MAX; }
  };
  void walk_templates(WalkCursor& cursor, std::size_t buckets, std::vector<TemplateChangeInfo>& out, Seconds now) const;

  std::vector<TemplateInfo> templates(const TemplateFilter& filter, Seconds now) const;
  std::size_t flush_templates(const TemplateFilter& filter);
  // Stores a template (e.g. one saved before a restart) under its service
  // and server, found by name and address:port.
  Restored restore_template(const TemplateInfo& info, Seconds now);

  EngineStats stats() const;
  std::size_t template_count() const;

 private:
  friend class Decider;
  friend class SnapshotBuilder;
  std::shared_ptr<const Snapshot> current() const SIPVS_EXCLUDES(snapshot_mutex_);
  // The published snapshot, for the control plane: writers hold both locks,
  // so holding mutex_ is enough to read it.
  const std::shared_ptr<const Snapshot>& running() const SIPVS_REQUIRES(mutex_);
  std::shared_ptr<const Snapshot> publish(EngineConfig config) SIPVS_REQUIRES(mutex_);

  mutable Mutex mutex_;  // serialises the control plane; never taken per packet
  // Guards only the pointer swap, so a decider's refresh() never waits for a
  // long control-plane change (dropping many templates, say).
  mutable Mutex snapshot_mutex_ SIPVS_ACQUIRED_AFTER(mutex_);
  std::shared_ptr<const Snapshot> snapshot_ SIPVS_GUARDED_BY(snapshot_mutex_);  // written with both locks held
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> schedulers_built_{0};
  std::unique_ptr<TemplateTable> table_;
  std::unique_ptr<SourceLimiter> source_limiter_;
  std::array<std::atomic<bool>, kMaxDeciders> slots_used_{};
  // The change log (enable_change_log): a ring per decider slot, and one
  // shared by the changes no decider makes (removals; templates kept by their
  // copy), whose producers take shared_changes_mutex_ (a leaf).
  std::array<std::unique_ptr<ChangeRing>, kMaxDeciders> decider_changes_;
  std::unique_ptr<ChangeRing> shared_changes_;
  Mutex shared_changes_mutex_;
  void log_erased(const Template& t);
  void log_kept(Template& t, Seconds now);
  struct Runtime;
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace sipvs
