// `sipvsd rules`: the printed commands match the configuration.
#include <doctest/doctest.h>

#include <string>

#include "daemon/config/config_json.hpp"
#include "daemon/forwarding/rules_text.hpp"

namespace {
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("rules: NFQUEUE rule, policy routing, fallback and ipvsadm for the configured marks") {
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "queues": "0-1", "mark_mask": "0x0000ffff", "services": [
      {"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "wrr", "persistence_timeout": 300,
       "pe": "sip", "servers": [{"address": "198.18.1.1", "mark": 1}, {"address": "198.18.1.2", "mark": "0x2"}]},
      {"name": "sip6", "vip": "2001:2:0:2::100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "2001:2:0:1::1", "mark": 11}]},
      {"name": "by-mark", "fwmark": 7, "scheduler": "rr", "servers": [{"address": "198.18.1.9", "mark": 9}]}]})"));
  const std::string r = sipvsd::render_rules(c, "/etc/sipvsd/sipvsd.json");
  CHECK(has(r, "iptables -t mangle -A PREROUTING -p udp -d 198.18.2.100 --dport 5060 -m conntrack --ctstate "
               "NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED -j NFQUEUE --queue-balance 0:1 --queue-bypass\n"));
  CHECK(has(r, "ip6tables -t mangle -A PREROUTING -p udp -d 2001:2:0:2::100 --dport 5060 "));
  CHECK(has(r, "iptables -t mangle -A PREROUTING -m mark --mark 0x7 "));
  CHECK(has(r, "ip rule add fwmark 0x1/0xffff lookup 101 pref 101\n"));
  CHECK(has(r, "ip route replace 198.18.2.100/32 via 198.18.1.1 table 101\n"));
  CHECK(has(r, "ip rule add fwmark 0x2/0xffff lookup 102 pref 102\n"));
  CHECK(has(r, "ip -6 rule add fwmark 0xb/0xffff lookup 103 pref 103\n"));
  CHECK(has(r, "ip -6 route replace 2001:2:0:2::100/128 via 2001:2:0:1::1 table 103\n"));
  CHECK(has(r, "ip route replace default via 198.18.1.9 table 104\n"));  // fwmark service: no VIP
  CHECK(has(r, "\nip route replace 198.18.2.100/32 via 198.18.1.1\n"));   // fallback for unmarked packets
  CHECK(has(r, "# ipvsadm -A -f 1 -s rr -o\n# ipvsadm -a -f 1 -r 198.18.1.1 -g\n"));
  CHECK(has(r, "# ipvsadm -A -f 11 -6 -s rr -o\n# ipvsadm -a -f 11 -6 -r [2001:2:0:1::1] -g\n"));
  CHECK(has(r, "/etc/sipvsd/sipvsd.json"));
}

TEST_CASE("rules: each real server gets its forwarding method; tun is not policy-routed") {
  sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "forwarding": "ipvs", "services": [
      {"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.1", "mark": 1, "forward": "tun"},
                   {"address": "198.18.1.2", "mark": 2, "forward": "dr"}]}]})"));
  std::string r = sipvsd::render_rules(c, "x");
  CHECK(has(r, "# ipvsadm -a -f 1 -r 198.18.1.1 -i\n"));
  CHECK(has(r, "# ipvsadm -a -f 2 -r 198.18.1.2 -g\n"));
  CHECK(has(r, "real server 198.18.1.1: tun is not direct routing, see section 3\n"));
  CHECK_FALSE(has(r, "via 198.18.1.1"));
  CHECK(has(r, "ip rule add fwmark 0x2/0xffffffff lookup 101 pref 101\n"));
  CHECK(has(r, "\nip route replace 198.18.2.100/32 via 198.18.1.2\n"));  // fallback: the first dr server
  // The configuration refuses masq; a config built in code gets a note, not a command.
  c.engine.services[0].servers[1].forward = sipvs::Forward::masq;
  r = sipvsd::render_rules(c, "x");
  CHECK(has(r, "# mark 2, real server 198.18.1.2: masq does not work with -o; use dr or tun\n"));
  CHECK_FALSE(has(r, "-r 198.18.1.2 -"));
}

TEST_CASE("rules: the NFQUEUE target follows the queues") {
  CHECK(sipvsd::nfqueue_target_option({3}) == "--queue-num 3");
  CHECK(sipvsd::nfqueue_target_option({0, 1, 2, 3}) == "--queue-balance 0:3");
  sipvsd::DaemonConfig c;
  c.queues = {0, 2};
  CHECK(has(sipvsd::render_rules(c, "x"), "NOTE: the queues are not contiguous"));
}

TEST_CASE("rules --format nft: one inet table of sipvsd's, reloadable, with the same matches and queues") {
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "queues": "0-1", "services": [
      {"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.1", "mark": 1}]},
      {"name": "sip6", "vip": "2001:2:0:2::100", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "2001:2:0:1::1", "mark": 11}]},
      {"name": "by-mark", "fwmark": 7, "scheduler": "rr", "servers": [{"address": "198.18.1.9", "mark": 9}]}]})"));
  const std::string r = sipvsd::render_rules(c, "/etc/sipvsd/sipvsd.json", sipvsd::RulesFormat::nft);
  const std::string verdict = " ct state { new, established, related, invalid, untracked } queue num 0-1 bypass\n";
  CHECK(r.rfind("#!/usr/sbin/nft -f\n", 0) == 0);
  CHECK(has(r, "\ntable inet sipvsd\ndelete table inet sipvsd\ntable inet sipvsd {\n  chain prerouting {\n"
               "    type filter hook prerouting priority mangle; policy accept;\n"));
  CHECK(has(r, "    ip daddr 198.18.2.100 udp dport 5060" + verdict));
  CHECK(has(r, "    ip saddr 198.18.2.100 udp sport 5060" + verdict));
  CHECK(has(r, "    ip6 daddr 2001:2:0:2::100 udp dport 5060" + verdict));
  CHECK(has(r, "    ip6 saddr 2001:2:0:2::100 udp sport 5060" + verdict));
  CHECK(has(r, "    meta mark 0x7" + verdict));
  // Policy routing and ipvsadm cannot be nft: every such line is a comment.
  CHECK(has(r, "\n#   ip rule add fwmark 0x1/0xffffffff lookup 101 pref 101\n"));
  CHECK(has(r, "\n#   ip route replace 198.18.2.100/32 via 198.18.1.1\n"));
  CHECK(has(r, "\n# ipvsadm -A -f 1 -s rr -o\n"));
  CHECK_FALSE(has(r, "iptables -t mangle"));
  std::size_t opened = 0, closed = 0;
  for (char ch : r) opened += ch == '{', closed += ch == '}';
  CHECK(opened == closed);
  for (std::size_t at = 0, end; at < r.size(); at = end + 1) {  // no shell command outside a comment
    end = r.find('\n', at);
    const std::string line = r.substr(at, end - at);
    CHECK_FALSE((line.rfind("ip ", 0) == 0 || line.rfind("sysctl", 0) == 0));
  }
}

TEST_CASE("rules --format: the nft queue target; the format names") {
  CHECK(sipvsd::nft_queue_target({3}) == "num 3");
  CHECK(sipvsd::nft_queue_target({0, 1, 2, 3}) == "num 0-3");
  CHECK(sipvsd::rules_format_from_string("nft") == sipvsd::RulesFormat::nft);
  CHECK(sipvsd::rules_format_from_string("iptables") == sipvsd::RulesFormat::iptables);
  CHECK_FALSE(sipvsd::rules_format_from_string("ipchains"));
}

TEST_CASE("rules with the fast path on: the queue skips what it marked, only for the services it places") {
  const sipvsd::DaemonConfig c = sipvsd::parse_config(nlohmann::json::parse(R"({
    "mark_mask": "0x0000ffff", "fast_path": "auto", "services": [
      {"name": "sip", "vip": "198.18.2.100", "port": 5060, "scheduler": "wrr", "persistence_timeout": 300,
       "pe": "sip", "servers": [{"address": "198.18.1.1", "mark": 1}]},
      {"name": "no-pe", "vip": "198.18.2.101", "port": 5060, "scheduler": "rr",
       "servers": [{"address": "198.18.1.2", "mark": 2}]}]})"));
  const std::string r = sipvsd::render_rules(c, "/etc/sipvsd/sipvsd.json");
  CHECK(has(r, "iptables -t mangle -A PREROUTING -p udp -d 198.18.2.100 --dport 5060 -m mark --mark 0x0/0xffff "
               "-m conntrack"));
  CHECK(has(r, "iptables -t mangle -A PREROUTING -p udp -d 198.18.2.101 --dport 5060 -m conntrack"));
  // What the real servers send from the VIP never passes the fast path.
  CHECK(has(r, "iptables -t mangle -A PREROUTING -p udp -s 198.18.2.100 --sport 5060 -m conntrack"));
  const std::string n = sipvsd::render_rules(c, "/etc/sipvsd/sipvsd.json", sipvsd::RulesFormat::nft);
  CHECK(has(n, "ip daddr 198.18.2.100 udp dport 5060 meta mark & 0xffff == 0 ct state"));
  CHECK(has(n, "ip daddr 198.18.2.101 udp dport 5060 ct state"));
  sipvsd::DaemonConfig off = c;
  off.fast_path.mode = sipvsd::FastPathConfig::Mode::off;
  CHECK_FALSE(has(sipvsd::render_rules(off, "/etc/sipvsd/sipvsd.json"), "--mark 0x0/"));
}
