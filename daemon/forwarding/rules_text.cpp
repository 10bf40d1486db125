#include "daemon/forwarding/rules_text.hpp"

#include <ostream>
#include <sstream>

#include "daemon/config/queue_spec.hpp"
#include "daemon/config/service_json.hpp"
#include "daemon/forwarding/targets.hpp"

namespace sipvsd {

namespace {

const char* proto_name(uint8_t p) {
  switch (p) {
    case 6: return "tcp";
    case 132: return "sctp";
    default: return "udp";
  }
}

// A first dr server of the service: the only kind policy routing can reach.
const sipvs::RealServerConfig* first_direct(const sipvs::ServiceConfig& s) {
  for (const auto& r : s.servers)
    if (r.forward == sipvs::Forward::dr) return &r;
  return nullptr;
}

}  // namespace

std::string nfqueue_target_option(const std::vector<uint16_t>& queues) {
  if (queues.empty()) return "--queue-num 0";
  if (queues.size() == 1) return "--queue-num " + std::to_string(queues[0]);
  return "--queue-balance " + std::to_string(queues.front()) + ":" + std::to_string(queues.back());
}

namespace {

void write_header(std::ostream& o, const DaemonConfig& c, std::string_view source, RulesFormat format) {
  const bool contiguous = c.queues.size() < 2 || c.queues.back() - c.queues.front() + 1u == c.queues.size();
  if (format == RulesFormat::nft)
    o << "#!/usr/sbin/nft -f\n"
      << "# Kernel rules matching the sipvsd configuration " << source << "\n"
      << "# (printed by `sipvsd rules --format nft`). Review, then load as root on the\n"
      << "# director: nft -f FILE. The queue statement needs the kernel's nft_queue\n"
      << "# (CONFIG_NFT_QUEUE; Debian's kernels have it); where nft refuses it, use\n"
      << "# `sipvsd rules --format iptables`.\n";
  else
    o << "#!/bin/sh\n"
      << "# Kernel rules matching the sipvsd configuration " << source << "\n"
      << "# (printed by `sipvsd rules`). Review, then run as root on the director.\n";
  o << "# sipvsd owns the mark bits " << mark_to_string(c.mark_mask) << " (mark_mask); queues "
    << queue_spec_to_string(c.queues) << ".\n";
  if (!contiguous)
    o << "# NOTE: the queues are not contiguous; the queue rules balance over a range, so\n"
      << "# they cover " << c.queues.front() << ".." << c.queues.back() << ": bind them all or change `queues`.\n";
}

// Why the queue rules match every conntrack state, and what bypass asks of
// the rest of the set-up: the same for both formats.
void write_queue_rules_why(std::ostream& o, const char* ct, const char* bypass) {
  o << "# `" << ct << "` matches every packet: it is there because it loads connection\n"
    << "# tracking, whose defragmentation hands NFQUEUE whole datagrams, so a fragmented\n"
    << "# INVITE is still placed by its Call-ID (a NOTRACK rule does not load it).\n"
    << "# " << bypass << ": while sipvsd is not running packets pass unmarked, as do packets\n"
    << "# the kernel accepts when the queue is full (fail-open): they need the fallback\n"
    << "# route of section 2. Leave it out where another director must take the packets\n"
    << "# instead (active-active behind ECMP, docs/high-availability.md).\n";
}

void write_learning_note(std::ostream& o) {
  o << "# Calls the real servers place keep their server when what they send passes the\n"
    << "# director (it is their gateway): sipvsd tells the sender by the frame's source\n"
    << "# MAC, from the neighbour entries of the real servers' own addresses. Linux drops\n"
    << "# a packet that arrives from one of its own addresses (the VIP) unless the\n"
    << "# interface the real servers' packets come in on accepts it (rp_filter 0 or 2):\n"
    << "#   sysctl -w net.ipv4.conf.<that interface>.accept_local=1\n";
}

// Section 1: the iptables rules that hand each service's packets to sipvsd.
// With the fast path on, a packet it placed carries its server's mark already.
constexpr const char* kFastPathSkipNote = "# (fast path: what it placed is marked already and skips the queue)\n";

void write_queue_rules(std::ostream& o, const DaemonConfig& c) {
  const std::string target = "-j NFQUEUE " + nfqueue_target_option(c.queues) + " --queue-bypass";
  o << "\n# == 1. Send the virtual services' packets to sipvsd (NFQUEUE) ==\n";
  write_queue_rules_why(o, "-m conntrack --ctstate ...", "--queue-bypass");
  o << "# Use iptables-save/iptables-restore to keep these (an iptables-nft rule shows in\n"
    << "# `nft list ruleset` but that dump does not reload; `--format nft` prints native nft).\n";
  const std::string ct = "-m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED";
  for (const auto& s : c.engine.services) {
    if (s.is_fwmark()) {
      o << "# service " << s.name << ": packets already marked " << fwd::hex(s.fwmark)
        << " by your own rules (put those before these)\n";
      for (const char* ipt : {"iptables", "ip6tables"})
        o << ipt << " -t mangle -A PREROUTING -m mark --mark " << fwd::hex(s.fwmark) << " " << ct << " " << target
          << "\n";
    } else {
      const std::string ipt = s.vip.is_v4() ? "iptables" : "ip6tables";
      const std::string port = s.port ? std::to_string(s.port) : std::string();
      const bool fast = c.fast_path.enabled() && fast_path_serves(s);
      o << "# service " << s.name << "\n"
        << (fast ? kFastPathSkipNote : "") << ipt << " -t mangle -A PREROUTING -p " << proto_name(s.protocol)
        << " -d " << s.vip.to_string() << (s.port ? " --dport " + port : std::string())
        << (fast ? " -m mark --mark 0x0/" + fwd::hex(c.mark_mask) : std::string()) << " " << ct << " " << target
        << "\n"
        << "# ...and what its real servers send from the VIP (calls they place), when it\n"
        << "# passes the director: accepted as it came, the call learned (see below)\n"
        << ipt << " -t mangle -A PREROUTING -p " << proto_name(s.protocol) << " -s " << s.vip.to_string()
        << (s.port ? " --sport " + port : std::string()) << " " << ct << " " << target << "\n";
    }
  }
  write_learning_note(o);
}

// The nft match of a service's packets, to (`dport`) or from (`sport`) the VIP.
std::string nft_match(const sipvs::ServiceConfig& s, bool to_vip) {
  return std::string(s.vip.is_v4() ? "ip " : "ip6 ") + (to_vip ? "daddr " : "saddr ") + s.vip.to_string() + " " +
         proto_name(s.protocol) + (to_vip ? " dport " : " sport ") + std::to_string(s.port);
}

// Section 1 as an nftables table of sipvsd's own: loading the file again
// replaces that table and touches no other.
void write_nft_queue_rules(std::ostream& o, const DaemonConfig& c) {
  const std::string verdict = "ct state { new, established, related, invalid, untracked } queue " +
                              nft_queue_target(c.queues) + " bypass";
  o << "\n# == 1. Send the virtual services' packets to sipvsd (NFQUEUE) ==\n";
  write_queue_rules_why(o, "ct state { ... }", "bypass");
  o << "# The first two lines make loading this file again replace the table: they\n"
    << "# create it when it is missing, then delete it with its old rules.\n"
    << "table inet sipvsd\n"
    << "delete table inet sipvsd\n"
    << "table inet sipvsd {\n"
    << "  chain prerouting {\n"
    << "    type filter hook prerouting priority mangle; policy accept;\n";
  for (const auto& s : c.engine.services) {
    if (s.is_fwmark()) {
      o << "    # service " << s.name << ": packets already marked " << fwd::hex(s.fwmark)
        << " by your own rules (in a chain of a lower priority, e.g. mangle - 1)\n"
        << "    meta mark " << fwd::hex(s.fwmark) << " " << verdict << "\n";
      continue;
    }
    const bool fast = c.fast_path.enabled() && fast_path_serves(s);
    o << "    # service " << s.name << "\n"
      << (fast ? std::string("    ") + kFastPathSkipNote : std::string()) << "    " << nft_match(s, true)
      << (fast ? " meta mark & " + fwd::hex(c.mark_mask) + " == 0" : std::string()) << " " << verdict << "\n"
      << "    # ...and what its real servers send from the VIP (calls they place): learned\n"
      << "    " << nft_match(s, false) << " " << verdict << "\n";
  }
  o << "  }\n}\n";
  write_learning_note(o);
}

// Section 2, per dr real server: a rule from its mark to a table of its own.
void write_mark_routes(std::ostream& o, const DaemonConfig& c) {
  const std::string mask = fwd::hex(c.mark_mask);
  unsigned table = 100;
  for (const auto& s : c.engine.services) {
    for (const auto& r : s.servers) {
      if (r.forward != sipvs::Forward::dr) {
        o << "# service " << s.name << ", real server " << r.address.to_string() << ": " << to_string(r.forward)
          << " is not direct routing, see section 3\n";
        continue;
      }
      ++table;
      const char* ip = r.address.is_v4() ? "ip" : "ip -6";
      const std::string dst = s.is_fwmark() ? std::string("default")
                                            : s.vip.to_string() + (s.vip.is_v4() ? "/32" : "/128");
      o << "# service " << s.name << ", real server " << r.address.to_string() << " (weight " << r.weight << ")\n"
        << ip << " rule add fwmark " << fwd::hex(r.mark) << "/" << mask << " lookup " << table << " pref " << table
        << "\n"
        << ip << " route replace " << dst << " via " << r.address.to_string() << " table " << table << "\n";
    }
  }
}

// Section 2: policy routing by mark, the fallback route, the real servers' side.
void write_policy_routing(std::ostream& o, const DaemonConfig& c) {
  o << "\n# == 2. Policy routing by mark (direct routing) ==\n"
    << "# One table per real server: marked packets are routed to it, keeping the VIP as\n"
    << "# their destination. The real server must be on a directly connected network.\n";
  write_mark_routes(o, c);
  o << "# Fallback for unmarked packets (sipvsd down with --queue-bypass, fail-open, or\n"
    << "# unplaced packets with unplaced=accept): without it they get ICMP unreachable.\n";
  for (const auto& s : c.engine.services) {
    const sipvs::RealServerConfig* r = first_direct(s);
    if (s.is_fwmark() || !r) continue;
    o << (s.vip.is_v4() ? "ip" : "ip -6") << " route replace " << s.vip.to_string()
      << (s.vip.is_v4() ? "/32" : "/128") << " via " << r->address.to_string() << "\n";
  }
  o << "# On each real server: the VIP on loopback, never answered in ARP, e.g.\n";
  for (const auto& s : c.engine.services) {
    if (s.is_fwmark()) continue;
    o << "#   ip addr add " << s.vip.to_string() << (s.vip.is_v4() ? "/32" : "/128") << " dev lo\n";
  }
  o << "#   sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2\n";
}

// Section 3: the same with IPVS, as commented ipvsadm commands.
void write_ipvs_alternative(std::ostream& o, const DaemonConfig& c) {
  o << "\n# == 3. Alternative to 2 on kernels with IPVS: one fwmark service per mark ==\n"
    << "# -o (one-packet scheduling): IPVS would otherwise follow a 5-tuple connection\n"
    << "# entry and send every call of a SIP trunk to the first call's server. IPVS only\n"
    << "# sees packets addressed to the director (put the VIPs on its loopback) and it\n"
    << "# matches the whole mark, so keep the bits outside mark_mask at 0.\n";
  for (const auto& s : c.engine.services) {
    for (const auto& r : s.servers) {
      const char* six = r.address.is_v4() ? "" : " -6";
      std::string rs = r.address.to_string();
      if (!r.address.is_v4()) rs = '[' + rs + ']';
      // The configuration refuses masq (forwarding_config.cpp): -o keeps no
      // connection entry, so NAT replies would not be translated back.
      if (r.forward == sipvs::Forward::masq) {
        o << "# mark " << r.mark << ", real server " << rs << ": masq does not work with -o; use dr or tun\n";
        continue;
      }
      o << "# ipvsadm -A -f " << r.mark << six << " -s rr -o\n"
        << "# ipvsadm -a -f " << r.mark << six << " -r " << rs
        << (r.forward == sipvs::Forward::tun ? " -i" : " -g") << "\n";
    }
  }
}

// The ip and ipvsadm commands of sections 2 and 3 as comments, for an nft file.
std::string commented(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out += (line.empty() || line[0] == '#' ? line : "#   " + line) + "\n";
  return out;
}

}  // namespace

std::string nft_queue_target(const std::vector<uint16_t>& queues) {
  if (queues.empty()) return "num 0";
  if (queues.size() == 1) return "num " + std::to_string(queues[0]);
  return "num " + std::to_string(queues.front()) + "-" + std::to_string(queues.back());
}

std::optional<RulesFormat> rules_format_from_string(std::string_view text) {
  if (text == "iptables") return RulesFormat::iptables;
  if (text == "nft") return RulesFormat::nft;
  return std::nullopt;
}

std::string render_rules(const DaemonConfig& c, std::string_view source, RulesFormat format) {
  std::ostringstream o;
  write_header(o, c, source, format);
  std::ostringstream routing;
  write_policy_routing(routing, c);
  write_ipvs_alternative(routing, c);
  if (format == RulesFormat::nft) {
    write_nft_queue_rules(o, c);
    o << "\n# Sections 2 and 3 are ip and ipvsadm commands, which an nft file cannot hold:\n"
      << "# run them from a shell (`sipvsd rules --format iptables` prints them as one).\n"
      << commented(routing.str());
  } else {
    write_queue_rules(o, c);
    o << routing.str();
  }
  return o.str();
}

}  // namespace sipvsd
