#include "daemon/daemon.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "daemon/config/queue_spec.hpp"
#include "daemon/datapath/neighbours.hpp"
#include "daemon/log.hpp"

namespace sipvsd {

namespace {
constexpr auto kReconcileInterval = std::chrono::seconds(10);  // periodic forwarding reconcile
constexpr auto kPressureReportInterval = std::chrono::seconds(10);  // at most one warning per interval
// A real server that starts sending is known by its link-layer address this
// long after the director's neighbour table has it.
constexpr auto kSenderRefreshInterval = std::chrono::seconds(1);
constexpr unsigned kQuickSenderChecks = 10;  // 100 ms apart, while a server is being resolved
// How long start() and apply() wait for the kernel to resolve the real servers
// they name; a server that does not answer (down) is left to housekeeping.
constexpr auto kSenderResolveWait = std::chrono::milliseconds(200);

// The engine's part of `c`, carrying the mark mask and the unplaced policy:
// the workers read them from the engine's snapshot, published with the marks
// they belong to.
sipvs::ValidConfig with_policy(const CheckedConfig& checked) {
  const DaemonConfig& c = checked.daemon();
  sipvs::ValidConfig e = checked.engine();
  e.set_caller_data(DataPathPolicy::pack({c.mark_mask, c.unplaced == DaemonConfig::Unplaced::drop}));
  return e;
}

// Without sync there are no peers: each director is alone.
ServerHealthMode health_mode(const CheckedConfig& checked) {
  const SyncConfig& sync = checked.daemon().sync;
  return sync.enabled() ? sync.server_health : ServerHealthMode::local;
}
}  // namespace

Daemon::Daemon(const CheckedConfig& config)
    : engine_(with_policy(config)), agreement_(engine_, health_mode(config)), health_(agreement_) {}

Daemon::~Daemon() {
  stop();
  engine_.set_template_mirror(nullptr);  // the fast path goes before the engine
}

void Daemon::start(const DaemonConfig& c) {
  // Before the queues: marks are useless until the kernel maps them to real
  // servers, and `forwarding: ipvs` without IPVS must fail here. Throws ForwardingError.
  forwarding_.start(c);
  // Before the workers exist: each decider's change log is made with it.
  if (c.sync.enabled()) {
    auto key = sipvs::sync::load_key_file(c.sync.key_file);
    if (auto* error = std::get_if<std::string>(&key)) throw std::runtime_error("sync.key_file: " + *error);
    engine_.enable_change_log(c.sync.change_log);
    sync_ = std::make_unique<SyncService>(engine_, c.sync, std::get<sipvs::sync::Authenticator>(key), &agreement_);
  }
  // Before the workers: the engine hands it their templates. Throws FastPathError (fast_path on).
  fast_path_ = start_fast_path(c.fast_path, c.engine.max_templates);
  if (fast_path_) {
    fast_path_->set_services(c.engine, c.mark_mask);
    engine_.set_template_mirror(fast_path_.get());
  }
  await_senders();  // before the first packet: a call a server places at once is learned
  std::vector<std::unique_ptr<QueueWorker>> workers;
  for (uint16_t q : c.queues) {
    QueueOptions o;
    o.queue = q;
    o.maxlen = c.queue_maxlen;
    workers.push_back(std::make_unique<QueueWorker>(engine_, senders_, o));
  }
  for (auto& w : workers) w->start();
  {
    sipvs::MutexLock lock(workers_mutex_);
    workers_ = std::move(workers);
  }
  housekeeper_ = std::thread([this] { housekeeping(); });
  health_.configure(c);
  LOG_NOTICE("running: queues %s, %zu services, mark mask %s, unplaced packets: %s",
             queue_spec_to_string(c.queues).c_str(), c.engine.services.size(), mark_to_string(c.mark_mask).c_str(),
             std::string(to_string(c.unplaced)).c_str());
}

std::vector<HealthStatus> Daemon::health_statuses() const {
  std::vector<HealthStatus> statuses = health_.statuses();
  if (agreement_.shared())
    for (HealthStatus& s : statuses) s.seen_down_by = agreement_.peers_seeing_down(s.service, s.address, s.port);
  return statuses;
}

std::optional<FastPathStats> Daemon::fast_path_stats() const {
  if (!fast_path_) return std::nullopt;
  return fast_path_->stats();
}

std::optional<SyncStatus> Daemon::sync_status() const {
  if (!sync_) return std::nullopt;
  return sync_->status();
}

void Daemon::stop() {
  health_.stop();
  std::vector<std::unique_ptr<QueueWorker>> workers;
  {
    sipvs::MutexLock lock(workers_mutex_);  // queue_stats() may run on another thread
    workers.swap(workers_);
  }
  for (auto& w : workers) w->request_stop();
  for (auto& w : workers) w->join();
  workers.clear();  // each unbinds its queue and closes its socket
  {
    sipvs::MutexLock lock(hk_mutex_);
    hk_stop_ = true;
  }
  hk_cv_.notify_all();
  if (housekeeper_.joinable()) housekeeper_.join();
  forwarding_.shutdown();  // leaves the kernel state unless remove_on_exit
}

// Templates expire in small steps, ten times a second, so that expiry never
// holds the table for long.
void Daemon::housekeeping() {
  pthread_setname_np(pthread_self(), "sipvsd-hk");
  sipvs::MutexLock lock(hk_mutex_);
  auto next_reconcile = std::chrono::steady_clock::now() + kReconcileInterval;
  auto next_pressure_report = std::chrono::steady_clock::now() + kPressureReportInterval;
  auto next_senders = std::chrono::steady_clock::now();
  while (!hk_stop_) {
    hk_cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (hk_stop_) break;
    lock.unlock();
    if (std::chrono::steady_clock::now() >= next_reconcile) {  // repairs what others changed
      forwarding_.reconcile_again();
      next_reconcile = std::chrono::steady_clock::now() + kReconcileInterval;
    }
    if (std::chrono::steady_clock::now() >= next_senders) {
      // A server being resolved has its entry within milliseconds: looked at
      // again soon, a few times; one that stays unresolved (down) at the usual pace.
      const bool all_known = refresh_senders();
      quick_sender_checks_ = all_known ? 0 : quick_sender_checks_ + 1;
      next_senders = std::chrono::steady_clock::now() + (all_known || quick_sender_checks_ > kQuickSenderChecks
                                                             ? kSenderRefreshInterval
                                                             : std::chrono::milliseconds(100));
    }
    const std::size_t removed = engine_.expire_step(sipvs::monotonic_seconds(), 4096);
    if (removed > 0) LOG_DEBUG(3, "expired %zu templates", removed);
    if (std::chrono::steady_clock::now() >= next_pressure_report) {
      report_template_pressure();
      next_pressure_report = std::chrono::steady_clock::now() + kPressureReportInterval;
    }
    lock.lock();
  }
}

// The neighbour entries of the real servers' own addresses, for the workers
// to tell which server sent a message out (learning the calls it places).
// Returns whether every real server's address has an entry.
bool Daemon::refresh_senders() {
  sipvs::MutexLock lock(senders_mutex_);
  std::vector<sipvs::IpAddress> servers;
  for (const sipvs::ServiceConfig& s : engine_.config().services)
    for (const sipvs::RealServerConfig& r : s.servers)
      if (std::find(servers.begin(), servers.end(), r.address) == servers.end()) servers.push_back(r.address);
  try {
    const std::vector<Neighbour> neighbours = read_neighbours();
    std::vector<sipvs::IpAddress> unknown;
    for (const sipvs::IpAddress& a : servers)
      if (std::none_of(neighbours.begin(), neighbours.end(), [&](const Neighbour& n) { return n.address == a; }))
        unknown.push_back(a);
    resolve_neighbours(unknown);
    SenderMap map(neighbours, servers);
    const std::size_t hosts = map.hosts();
    if (senders_.publish(std::move(map))) LOG_DEBUG(2, "link-layer addresses of %zu real server hosts", hosts);
    neighbour_failures_ = 0;
    return unknown.empty();
  } catch (const NeighbourError& e) {
    if (log::is_power_of_two(++neighbour_failures_))
      LOG_WARN("%s: calls the real servers place are learned from what is known (%llu times)", e.what(),
               static_cast<unsigned long long>(neighbour_failures_));
    return true;  // not sooner than usual
  }
}

// A real server that places a call the moment sipvsd starts, or the moment
// the API adds it, must already be known by its link-layer address: resolved
// here, waiting a little for the kernel's answers, rather than at
// housekeeping's next round.
void Daemon::await_senders() {
  const auto deadline = std::chrono::steady_clock::now() + kSenderResolveWait;
  while (!refresh_senders() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// A full table or a source over its limit means calls without affinity: one
// warning per interval at most, however many sessions it hit.
void Daemon::report_template_pressure() {
  const sipvs::EngineStats s = engine_.stats();
  if (s.table_full > reported_table_full_)
    LOG_WARN("template table full (%llu of %llu): %llu new sessions scheduled without a template in the last %llds",
             static_cast<unsigned long long>(s.templates_live), static_cast<unsigned long long>(s.templates_max),
             static_cast<unsigned long long>(s.table_full - reported_table_full_),
             static_cast<long long>(kPressureReportInterval.count()));
  if (s.rate_limited > reported_rate_limited_)
    LOG_WARN("max_new_templates_per_source: %llu new sessions scheduled without a template in the last %llds",
             static_cast<unsigned long long>(s.rate_limited - reported_rate_limited_),
             static_cast<long long>(kPressureReportInterval.count()));
  reported_table_full_ = s.table_full;
  reported_rate_limited_ = s.rate_limited;
}

std::optional<ConfigFieldError> Daemon::apply(const CheckedConfig& checked, const DaemonConfig& running) {
  const DaemonConfig& next = checked.daemon();
  try {
    forwarding_.prepare(next);
  } catch (const ForwardingError& e) {
    return ConfigFieldError("forwarding", e.what());
  }
  // New marks reach their real servers before the engine hands them out;
  // marks the change drops go once the engine no longer uses them.
  forwarding_.reconcile(forwarding_during_change(running, next));
  if (auto err = engine_.apply(with_policy(checked))) {
    forwarding_.reconcile(running);
    return ConfigFieldError(std::move(*err));
  }
  // The file's debug level wins only when it changes, so that a level raised
  // by signal survives an unrelated reload.
  if (next.debug_level != running.debug_level) log::set_debug_level(next.debug_level);
  forwarding_.reconcile(next);
  if (fast_path_) fast_path_->set_services(next.engine, next.mark_mask);
  await_senders();  // servers the change adds
  health_.configure(next);  // checks follow the servers (ControlPlane and SIGHUP both come here)
  return std::nullopt;
}

std::vector<QueueStats> Daemon::queue_stats() const {
  std::vector<QueueStats> out;
  const std::vector<KernelQueueStats> kernel = read_kernel_queue_stats();
  sipvs::MutexLock lock(workers_mutex_);
  for (const auto& w : workers_) {
    QueueStats& q = out.emplace_back();
    q.queue = w->queue();
    for (std::size_t i = 0; i < kQueueCounterCount; ++i)
      q.counters.values[i] = w->counters().values[i].load(std::memory_order_relaxed);
    for (const KernelQueueStats& k : kernel)
      if (k.queue == w->queue() && k.portid == w->portid()) q.kernel = k;
  }
  return out;
}

std::vector<WorkerRound> Daemon::worker_rounds() const {
  std::vector<WorkerRound> out;
  sipvs::MutexLock lock(workers_mutex_);
  for (const auto& w : workers_) out.push_back({w->queue(), w->last_round()});
  return out;
}

void Daemon::log_dump(std::size_t max_templates) const {
  for (const QueueStats& q : queue_stats()) {
    std::string line;
    for (const QueueCounterInfo& row : kQueueCounters)
      line += ' ' + std::string(row.name) + '=' + std::to_string(q.counters[row.counter]);
    LOG_NOTICE("queue %u:%s", q.queue, line.c_str());
    if (q.kernel)
      LOG_NOTICE("queue %u in the kernel: queue_total=%u queue_dropped=%u user_dropped=%u id_sequence=%u", q.queue,
                 q.kernel->queue_total, q.kernel->queue_dropped, q.kernel->user_dropped, q.kernel->id_sequence);
  }
  const sipvs::Engine& engine = engine_;
  const sipvs::EngineStats st = engine.stats();
  std::string bad;
  for (std::size_t i = 1; i < st.bad_packets.size(); ++i) {
    bad += ' ';
    bad += sipvs::to_string(static_cast<sipvs::PacketStatus>(i));
    bad += '=';
    bad += std::to_string(st.bad_packets[i]);
  }
  LOG_NOTICE("engine: packets=%llu no_service=%llu bad_packets:%s templates=%llu/%llu expired=%llu table_full=%llu",
             static_cast<unsigned long long>(st.packets), static_cast<unsigned long long>(st.no_service), bad.c_str(),
             static_cast<unsigned long long>(st.templates_live), static_cast<unsigned long long>(st.templates_max),
             static_cast<unsigned long long>(st.templates_expired), static_cast<unsigned long long>(st.table_full));
  for (const auto& s : st.services) {
    LOG_NOTICE("service %s: packets=%llu templates_created=%llu pe_fallbacks=%llu no_server=%llu", s.name.c_str(),
               static_cast<unsigned long long>(s.counters.packets),
               static_cast<unsigned long long>(s.counters.templates_created),
               static_cast<unsigned long long>(s.counters.pe_fallbacks), static_cast<unsigned long long>(s.no_server));
    for (const auto& r : s.servers) {
      LOG_NOTICE("service %s server %s:%u mark=0x%x weight=%u %s: packets=%llu templates_created=%llu live=%lld",
                 s.name.c_str(), r.address.to_string().c_str(), r.port, r.mark, r.weight, r.up ? "up" : "down",
                 static_cast<unsigned long long>(r.counters.packets),
                 static_cast<unsigned long long>(r.counters.templates_created),
                 static_cast<long long>(r.live_templates));
    }
  }
  if (const std::optional<FastPathStats> f = fast_path_stats())
    LOG_NOTICE("fast path: hits=%llu misses=%llu stale=%llu no_call_id=%llu fragments=%llu unusual=%llu "
               "remember_errors=%llu",
               static_cast<unsigned long long>(f->hits), static_cast<unsigned long long>(f->misses),
               static_cast<unsigned long long>(f->stale), static_cast<unsigned long long>(f->no_call_id),
               static_cast<unsigned long long>(f->fragments), static_cast<unsigned long long>(f->unusual),
               static_cast<unsigned long long>(f->remember_errors));
  if (max_templates == 0) return;
  sipvs::TemplateFilter f;
  f.limit = max_templates;
  for (const auto& t : engine.templates(f, sipvs::monotonic_seconds())) {
    LOG_NOTICE("template service=%s client=%s:%u -> %s:%u fwmark=%u server=%s:%u mark=0x%x pe=%s pe_data=\"%s\" "
               "expires_in=%us",
               t.service.c_str(), t.client.to_string().c_str(), t.client_port, t.vip.to_string().c_str(), t.vport,
               t.fwmark, t.server.to_string().c_str(), t.server_port, t.mark, t.pe_name.empty() ? "-" : t.pe_name.c_str(),
               t.pe_shown.c_str(), t.expires_in);
  }
}

}  // namespace sipvsd
