#include "daemon/health/health_check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <system_error>
#include <set>
#include <string_view>

#include "daemon/log.hpp"
#include "engine/parse/sip_header.hpp"

namespace sipvsd {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxDatagram = 65535;
constexpr auto kSocketRetry = std::chrono::seconds(10);  // a socket that failed to open is retried this often
constexpr uint16_t kDefaultSipPort = 5060;             // fwmark services have no port of their own

// A server under SIP OPTIONS probes, and where its probing stands.
struct ProbedServer {
  HealthStatus status;
  sipvs::sync::ServerIdentity identity;  // as the peers name it
  uint16_t dest_port = 0;
  HealthCheckConfig cfg;
  std::string socket_key;
  Clock::time_point next_send{};
  bool outstanding = false;
  std::string call_id, branch;
  uint32_t cseq = 0;
  Clock::time_point sent{}, deadline{};
};

struct Socket {
  int fd = -1;
  sipvs::IpAddress::Family family = sipvs::IpAddress::Family::v4;
  std::string local_address;  // as configured; empty = any
  uint16_t port = 0;          // bound port
};

// sockaddr for an address and port.
socklen_t make_sockaddr(const sipvs::IpAddress& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

sipvs::IpAddress from_sockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET)
    return sipvs::IpAddress::v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr));
  return sipvs::IpAddress::v6(reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr));
}

std::string host_part(const sipvs::IpAddress& a) {
  if (a.is_v4()) return a.to_string();
  // Appended piecewise: GCC 12 at -O2 warns falsely (-Wrestrict) on "[" + string.
  std::string out = "[";
  out += a.to_string();
  out += ']';
  return out;
}

// The source address the kernel would pick towards `to` (for the Via header).
std::optional<sipvs::IpAddress> source_towards(const sipvs::IpAddress& to, uint16_t port) {
  const int fd = ::socket(to.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_storage ss;
  const socklen_t len = make_sockaddr(to, port, ss);
  std::optional<sipvs::IpAddress> out;
  sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
    out = from_sockaddr(local);
  ::close(fd);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct Reply {
  int code = 0;
  std::string_view call_id, branch, cseq_method;
  uint32_t cseq = 0;
};

inline constexpr sipvs::SipHeaderName kVia{"Via", 'v'};
inline constexpr sipvs::SipHeaderName kCSeq{"CSeq", 0};

// Where parse_reply joins folded header values.
struct ReplyScratch {
  sipvs::SipScratch call_id, via, cseq;
};

// A SIP response's status code, Call-ID, top Via's branch and CSeq, its
// headers found as the engine finds the Call-ID (long or compact names, any
// case, folding); nullopt for anything else (requests, garbage, a header
// missing or there twice with different values). The views point into `msg`
// or `scratch`.
std::optional<Reply> parse_reply(std::string_view msg, ReplyScratch& scratch) {
  if (msg.size() < 12 || msg.substr(0, 8) != "SIP/2.0 ") return std::nullopt;
  Reply r;
  for (std::size_t i = 8; i < 11; ++i) {
    if (msg[i] < '0' || msg[i] > '9') return std::nullopt;
    r.code = r.code * 10 + (msg[i] - '0');
  }
  std::string_view via, cseq;
  using sipvs::SipStatus;
  if (sipvs::find_call_id(msg, scratch.call_id, r.call_id) != SipStatus::found ||
      sipvs::find_sip_header(msg, kVia, scratch.via, via) != SipStatus::found ||
      sipvs::find_sip_header(msg, kCSeq, scratch.cseq, cseq) != SipStatus::found)
    return std::nullopt;

  const std::string_view top = via.substr(0, via.find(','));
  for (std::size_t p = top.find(';'); p != std::string_view::npos; p = top.find(';', p + 1)) {
    std::string_view param = trim(top.substr(p + 1));
    param = param.substr(0, param.find(';'));
    if (param.size() > 7 && iequals(param.substr(0, 7), "branch=")) r.branch = trim(param.substr(7));
  }

  const std::size_t sp = cseq.find_first_of(" \t");
  if (sp == 0 || sp == std::string_view::npos || sp > 10) return std::nullopt;
  uint64_t n = 0;
  for (std::size_t i = 0; i < sp; ++i) {
    if (cseq[i] < '0' || cseq[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(cseq[i] - '0');
  }
  if (n > UINT32_MAX) return std::nullopt;
  r.cseq = static_cast<uint32_t>(n);
  r.cseq_method = trim(cseq.substr(sp));
  if (r.branch.empty()) return std::nullopt;
  return r;
}

}  // namespace

struct HealthChecker::Impl {
  explicit Impl(ServerHealthAgreement& a) : agreement(a) {}

  ServerHealthAgreement& agreement;
  mutable sipvs::Mutex mutex;
  std::vector<ProbedServer> servers SIPVS_GUARDED_BY(mutex);
  std::map<std::string, Socket> sockets SIPVS_GUARDED_BY(mutex);  // by key; opened and closed by the thread only
  std::map<std::string, Clock::time_point> failed_sockets SIPVS_GUARDED_BY(mutex);  // key -> when to retry
  bool stopping SIPVS_GUARDED_BY(mutex) = false;
  int wake_fd = -1;   // set before the thread starts, closed after it ends: it reads it unlocked
  std::thread thread;
  uint64_t probes = 0;

  void wake() {
    const uint64_t one = 1;
    if (wake_fd >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof one);
    }
  }

  // From the kernel's CSPRNG: whoever sees one probe must not be able to
  // predict the next one's Call-ID and branch and forge its answer (with
  // on_down: expire, a forged "down" moves calls).
  static void random_bytes(void* out, std::size_t n) {
    auto* p = static_cast<uint8_t*>(out);
    while (n > 0) {
      const ssize_t got = ::getrandom(p, n, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw std::system_error(errno, std::generic_category(), "getrandom");
      p += got;
      n -= static_cast<std::size_t>(got);
    }
  }
  static std::string random_hex(std::size_t bytes) {
    uint8_t raw[32];
    random_bytes(raw, std::min(bytes, sizeof raw));
    std::string out;
    for (std::size_t i = 0; i < std::min(bytes, sizeof raw); ++i) {
      out += "0123456789abcdef"[raw[i] >> 4];
      out += "0123456789abcdef"[raw[i] & 15];
    }
    return out;
  }

  static std::string key_for(const ProbedServer& t) {
    std::string local;
    if (auto a = sipvs::IpAddress::parse(t.cfg.local_address); a && a->family == t.status.address.family)
      local = a->to_string();
    return std::string(t.status.address.is_v4() ? "4" : "6") + "|" + local + "|" +
           std::to_string(local.empty() && t.cfg.local_port == 0 ? 0 : t.cfg.local_port);
  }

  // The thread's socket set follows the probed servers' keys.
  void reconcile_sockets(Clock::time_point now) SIPVS_REQUIRES(mutex) {
    std::set<std::string> wanted;
    for (const ProbedServer& t : servers) wanted.insert(t.socket_key);
    for (auto it = sockets.begin(); it != sockets.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      ::close(it->second.fd);
      it = sockets.erase(it);
    }
    for (const std::string& key : wanted) {
      if (sockets.count(key)) continue;
      if (auto f = failed_sockets.find(key); f != failed_sockets.end() && now < f->second) continue;
      const bool v4 = key[0] == '4';
      const std::size_t bar1 = key.find('|'), bar2 = key.find('|', bar1 + 1);
      const std::string local = key.substr(bar1 + 1, bar2 - bar1 - 1);
      const auto port = static_cast<uint16_t>(std::stoul(key.substr(bar2 + 1)));
      Socket s;
      s.family = v4 ? sipvs::IpAddress::Family::v4 : sipvs::IpAddress::Family::v6;
      s.local_address = local;
      s.fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      std::string error;
      if (s.fd < 0) {
        error = std::strerror(errno);
      } else {
        if (!v4) {
          const int on = 1;
          ::setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        }
        sipvs::IpAddress bind_addr;
        bind_addr.family = s.family;
        if (!local.empty()) bind_addr = *sipvs::IpAddress::parse(local);
        sockaddr_storage ss;
        const socklen_t len = make_sockaddr(bind_addr, port, ss);
        sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        if (::bind(s.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
            ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&bound), &blen) != 0) {
          error = std::strerror(errno);
          ::close(s.fd);
          s.fd = -1;
        } else {
          s.port = ntohs(v4 ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                            : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
        }
      }
      if (s.fd < 0) {
        if (!failed_sockets.count(key))
          LOG_ERR("health check: cannot open a UDP socket on %s port %u (IPv%c): %s; probes through it fail",
                  local.empty() ? "any address" : local.c_str(), port, key[0], error.c_str());
        failed_sockets[key] = now + kSocketRetry;
        continue;
      }
      failed_sockets.erase(key);
      LOG_INFO("health check: probing from %s port %u (IPv%c)", local.empty() ? "any address" : local.c_str(),
               s.port, key[0]);
      sockets[key] = s;
    }
  }

  void result(ProbedServer& t, bool ok, const std::string& what, double rtt_ms) {
    HealthStatus& s = t.status;
    s.last_result = what;
    s.last_probe = std::time(nullptr);
    if (rtt_ms >= 0) s.last_rtt_ms = rtt_ms;
    if (ok) {
      ++s.consecutive_successes;
      s.consecutive_failures = 0;
    } else {
      ++s.consecutive_failures;
      s.consecutive_successes = 0;
    }
    const bool up = s.up ? s.consecutive_failures < t.cfg.failures : s.consecutive_successes >= t.cfg.successes;
    if (up == s.up) return;
    s.up = up;
    s.last_change = s.last_probe;
    const bool expire = !up && t.cfg.on_down == HealthCheckConfig::OnDown::expire;
    agreement.local_view(s.service, s.address, s.port, !up);
    LOG_NOTICE("health check: service %s server %s:%u is %s after %u %s (last: %s)%s", s.service.c_str(),
               host_part(s.address).c_str(), t.dest_port, up ? "UP" : "DOWN",
               up ? s.consecutive_successes : s.consecutive_failures,
               up ? "successful probes" : "failed probes", what.c_str(),
               up ? "" : (expire ? "; its templates expired, calls move" : "; its templates kept"));
  }

  void send_probe(ProbedServer& t, Clock::time_point now) SIPVS_REQUIRES(mutex) {
    t.outstanding = true;
    t.sent = now;
    t.deadline = now + std::chrono::milliseconds(t.cfg.timeout_ms);
    auto it = sockets.find(t.socket_key);
    std::optional<sipvs::IpAddress> via =
        it == sockets.end() ? std::nullopt
                            : (it->second.local_address.empty() ? source_towards(t.status.address, t.dest_port)
                                                                : sipvs::IpAddress::parse(it->second.local_address));
    if (it == sockets.end() || !via) return;  // times out: no way to send
    ++probes;
    t.call_id = random_hex(16) + "-" + std::to_string(probes) + "@sipvsd";
    t.branch = "z9hG4bK-sipvsd-" + random_hex(16);
    ++t.cseq;
    const std::string target = host_part(t.status.address) + ":" + std::to_string(t.dest_port);
    const std::string me = host_part(*via);
    const std::string msg = "OPTIONS sip:" + target + " SIP/2.0\r\n" +
                            "Via: SIP/2.0/UDP " + me + ":" + std::to_string(it->second.port) +
                            ";branch=" + t.branch + ";rport\r\n" +
                            "Max-Forwards: 70\r\n" +
                            "From: <sip:sipvsd@" + me + ">;tag=" + random_hex(5) + "\r\n" +
                            "To: <sip:" + target + ">\r\n" +
                            "Call-ID: " + t.call_id + "\r\n" +
                            "CSeq: " + std::to_string(t.cseq) + " OPTIONS\r\n" +
                            "Accept: application/sdp\r\n" +
                            "User-Agent: sipvsd health check\r\n" +
                            "Content-Length: 0\r\n\r\n";
    sockaddr_storage ss;
    const socklen_t len = make_sockaddr(t.status.address, t.dest_port, ss);
    if (::sendto(it->second.fd, msg.data(), msg.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), len) < 0)
      LOG_DEBUG(2, "health check: send to %s: %s", target.c_str(), std::strerror(errno));
  }

  void handle(std::string_view msg, Clock::time_point now) SIPVS_REQUIRES(mutex) {
    ReplyScratch scratch;
    const auto r = parse_reply(msg, scratch);
    if (!r || r->code < 200 || !iequals(r->cseq_method, "OPTIONS")) return;  // stray, or provisional
    for (ProbedServer& t : servers) {
      if (!t.outstanding || t.call_id != r->call_id || t.branch != r->branch || t.cseq != r->cseq) continue;
      t.outstanding = false;
      const bool ok = t.cfg.codes.empty() ||
                      std::find(t.cfg.codes.begin(), t.cfg.codes.end(), r->code) != t.cfg.codes.end();
      result(t, ok, std::to_string(r->code),
             std::chrono::duration<double, std::milli>(now - t.sent).count());
      return;
    }
  }

  // The servers `config` checks: those probed already keep their state
  // (taken out of `servers`), new ones start up.
  std::vector<ProbedServer> next_servers(const DaemonConfig& config, Clock::time_point now) SIPVS_REQUIRES(mutex) {
    std::vector<ProbedServer> next;
    for (const sipvs::ServiceConfig& svc : config.engine.services) {
      auto hc = config.health_checks.find(svc.name);
      if (hc == config.health_checks.end()) continue;
      for (const sipvs::RealServerConfig& r : svc.servers) {
        const HealthCheckConfig* cfg = hc->second.enabled ? &hc->second.service : nullptr;
        for (const ServerHealthCheck& sc : hc->second.servers)
          if (sc.address == r.address && sc.port == r.port) cfg = &sc.check;
        if (cfg) next.push_back(probed(svc, r, *cfg, now));
      }
    }
    return next;
  }

  ProbedServer probed(const sipvs::ServiceConfig& svc, const sipvs::RealServerConfig& r, const HealthCheckConfig& cfg,
                      Clock::time_point now) SIPVS_REQUIRES(mutex) {
    ProbedServer t;
    auto old = std::find_if(servers.begin(), servers.end(), [&](const ProbedServer& o) {
      return o.status.service == svc.name && o.status.address == r.address && o.status.port == r.port;
    });
    if (old != servers.end()) {
      t = std::move(*old);
      if (!(t.cfg == cfg)) {  // a changed check starts probing again now
        t.outstanding = false;
        t.next_send = now;
      }
    } else {
      t.status.service = svc.name;
      t.status.address = r.address;
      t.status.port = r.port;
      // Spread first probes over the interval, so that many servers are not probed at once.
      uint32_t jitter;
      random_bytes(&jitter, sizeof jitter);
      t.next_send = now + std::chrono::milliseconds(jitter % std::max<uint32_t>(cfg.interval_ms / 4, 1));
    }
    t.identity = sipvs::sync::server_identity(svc, r);
    t.cfg = cfg;
    t.dest_port = r.port ? r.port : (svc.port ? svc.port : kDefaultSipPort);
    t.socket_key = key_for(t);
    return t;
  }

  void run() {
    pthread_setname_np(pthread_self(), "sipvsd-health");
    std::vector<char> buf(kMaxDatagram);
    std::vector<pollfd> fds;
    for (;;) {
      int wait_ms = 1000;
      {
        sipvs::MutexLock lock(mutex);
        if (stopping) break;
        const auto now = Clock::now();
        reconcile_sockets(now);
        for (ProbedServer& t : servers) {
          if (t.outstanding && now >= t.deadline) {
            t.outstanding = false;
            result(t, false, "timeout", -1);
          }
          if (!t.outstanding && now >= t.next_send) {
            send_probe(t, now);
            t.next_send += std::chrono::milliseconds(t.cfg.interval_ms);
            if (t.next_send <= now) t.next_send = now + std::chrono::milliseconds(t.cfg.interval_ms);
          }
        }
        auto next = now + std::chrono::seconds(1);
        for (const ProbedServer& t : servers) next = std::min(next, t.outstanding ? t.deadline : t.next_send);
        wait_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
        wait_ms = std::clamp(wait_ms, 0, 1000);
        fds.clear();
        fds.push_back({wake_fd, POLLIN, 0});
        for (const auto& [key, s] : sockets) fds.push_back({s.fd, POLLIN, 0});
      }
      // Sockets change only on this thread, so the fds stay valid while polling.
      if (::poll(fds.data(), fds.size(), wait_ms) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        uint64_t n;
        [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof n);
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        for (int k = 0; k < 256; ++k) {
          const ssize_t n = ::recv(fds[i].fd, buf.data(), buf.size(), MSG_DONTWAIT);
          if (n < 0) break;  // EAGAIN, or an ICMP error reported on the socket
          sipvs::MutexLock lock(mutex);
          handle(std::string_view(buf.data(), static_cast<std::size_t>(n)), Clock::now());
        }
      }
    }
  }
};

HealthChecker::HealthChecker(ServerHealthAgreement& agreement) : impl_(std::make_unique<Impl>(agreement)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::configure(const DaemonConfig& config) {
  sipvs::MutexLock lock(impl_->mutex);
  impl_->servers = impl_->next_servers(config, Clock::now());
  // Under the lock, so that no probe's verdict reaches the agreement before
  // its server does; those no longer checked leave it, up if they were down.
  std::vector<ServerHealthAgreement::CheckedServer> checked;
  for (const ProbedServer& t : impl_->servers)
    checked.push_back({t.status.service, t.status.address, t.status.port, t.identity,
                       t.cfg.on_down == HealthCheckConfig::OnDown::expire ? sipvs::ServerHealth::down_expiring
                                                                          : sipvs::ServerHealth::down,
                       !t.status.up});
  impl_->agreement.checked(std::move(checked));
  if (!impl_->thread.joinable() && !impl_->stopping && !impl_->servers.empty()) {
    impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    impl_->thread = std::thread([this] { impl_->run(); });
  }
  impl_->wake();  // the thread takes the new servers to probe
}

void HealthChecker::stop() {
  std::thread thread;  // joined outside the lock, which the thread takes
  {
    sipvs::MutexLock lock(impl_->mutex);
    impl_->stopping = true;
    impl_->wake();
    thread = std::move(impl_->thread);
  }
  if (thread.joinable()) thread.join();
  sipvs::MutexLock lock(impl_->mutex);
  for (auto& [key, s] : impl_->sockets) ::close(s.fd);
  impl_->sockets.clear();
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
  impl_->wake_fd = -1;
}

std::vector<HealthStatus> HealthChecker::statuses() const {
  sipvs::MutexLock lock(impl_->mutex);
  std::vector<HealthStatus> out;
  for (const ProbedServer& t : impl_->servers) out.push_back(t.status);
  return out;
}

const HealthStatus* find_status(const std::vector<HealthStatus>& statuses, std::string_view service,
                                const sipvs::IpAddress& address, uint16_t port) {
  for (const HealthStatus& s : statuses)
    if (s.service == service && s.address == address && s.port == port) return &s;
  return nullptr;
}

}  // namespace sipvsd
