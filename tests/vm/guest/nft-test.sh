#!/bin/sh
# nft-test.sh: runs inside the VM after ipvs-test.sh, in the topology it made
# (client cl, real servers rs1..rs4 with their sinks logging to
# /tmp/sink.log), on Debian's kernel, which has nft_queue.
#
# sipvsd behind the nftables ruleset that `sipvsd rules --format nft` prints
# for its configuration, loaded exactly as printed (with the fallback routes
# printed in its comments): forwarding route, then forwarding ipvs; IPv4 and
# IPv6; INVITEs in one datagram and in IP fragments (their Call-ID in a later
# fragment than the UDP header); then, sipvsd stopped, `bypass`.
# Each call is judged from what the real servers received: all its packets,
# all on one real server. Prints PASS:/FAIL: lines and NFT| lines, the rows of
# the table in rules/README.md. Exit status: the number of failures.
. /vmtest/lib.sh

VIP_R=198.18.2.103    # forwarding: route (not an address of the director)
VIP_R6=2001:2:0:2::103
VIP_I=198.18.2.104    # forwarding: ipvs (on the director's loopback)
VIP_I6=2001:2:0:2::104
CFG=/tmp/sipvsd-nft.json
RULES=/tmp/sipvsd-rules.nft
PAD=2400  # bytes of padding: an INVITE of ~2.8 kB, two fragments at MTU 1500

step "nft: modules, IPv6 on the links, the VIPs on the real servers"
for m in nf_tables nft_ct nft_queue nf_conntrack nfnetlink_queue ip_vs; do
  modprobe "$m" || fail "modprobe $m"
done
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/ipv6/conf/all/forwarding
ip -6 addr add 2001:2:0:1::1/64 dev v-cl nodad
ip -n cl -6 addr add 2001:2:0:1::2/64 dev eth0 nodad
ip -n cl -6 route add default via 2001:2:0:1::1
n=3
for r in rs1 rs2 rs3 rs4; do
  ip -6 addr add "2001:2:0:$n::1/64" dev "v-$r" nodad
  ip -n $r -6 addr add "2001:2:0:$n::2/64" dev eth0 nodad
  ip -n $r -6 route add default via "2001:2:0:$n::1"
  ip -n $r addr add $VIP_R/32 dev lo
  ip -n $r addr add $VIP_I/32 dev lo
  ip -n $r -6 addr add $VIP_R6/128 dev lo nodad
  ip -n $r -6 addr add $VIP_I6/128 dev lo nodad
  n=$((n + 1))
done
ip addr add $VIP_I/32 dev lo
ip -6 addr add $VIP_I6/128 dev lo nodad

# write_config FORWARDING VIP4 VIP6 FIRST_MARK: three IPv4 and three IPv6
# real servers (rs1..rs3), marks FIRST_MARK.. upwards.
write_config() {
  m=$4
  cat >$CFG <<EOF
{ "queues": "0-1", "mark_mask": "0xffffffff", "forwarding": "$1",
  "api": { "listen": "127.0.0.1:8081" },
  "services": [
    { "name": "sip4", "vip": "$2", "port": 5060, "scheduler": "rr", "persistence_timeout": 60, "pe": "sip",
      "servers": [ { "address": "198.18.3.2", "mark": $m }, { "address": "198.18.4.2", "mark": $((m + 1)) },
                   { "address": "198.18.5.2", "mark": $((m + 2)) } ] },
    { "name": "sip6", "vip": "$3", "port": 5060, "scheduler": "rr", "persistence_timeout": 60, "pe": "sip",
      "servers": [ { "address": "2001:2:0:3::2", "mark": $((m + 3)) }, { "address": "2001:2:0:4::2", "mark": $((m + 4)) },
                   { "address": "2001:2:0:5::2", "mark": $((m + 5)) } ] } ] }
EOF
}

# reassembled: datagrams the real servers' IPv4 and IPv6 stacks put together
# from fragments, so far (the proof that fragmented INVITEs were sent as such).
reassembled() {
  total=0
  for r in rs1 rs2 rs3 rs4; do
    n4=$(ip netns exec $r awk '$1 == "Ip:" { if (!col) { for (i = 1; i <= NF; i++) if ($i == "ReasmOKs") col = i; next } print $col }' /proc/net/snmp)
    n6=$(ip netns exec $r awk '$1 == "Ip6ReasmOKs" { print $2 }' /proc/net/snmp6)
    total=$((total + n4 + n6))
  done
  echo $total
}

# run WHAT FORWARDING SRC DST TAG [PAD]: sends the packet sequence from one
# client IP:port to DST, then judges it per call from the sinks' log, and
# prints the NFT| row and the PASS:/FAIL: line.
run() {
  what=$1 fwd=$2 src=$3 dst=$4 tag=$5 pad=${6:-0}
  : >/tmp/sink.log
  before=$(reassembled)
  ip netns exec cl vmprobe send "$src" 5062 "$dst" 5060 20 "$tag" "$pad" >/dev/null
  settle
  fragmented=$(($(reassembled) - before))
  # Per group: sent, delivered, real servers; then the servers used by the calls.
  awk -v dst="$dst" '
    FNR == NR { grp[$1] = $2; sent[$2]++; total++; next }
    NF == 3 && $2 == dst && ($3 in grp) {
      g = grp[$3]; got[g]++; delivered++
      if (!((g, $1) in seen)) { seen[g, $1] = 1; servers[g]++ }
      if (g ~ /^call-/ && !($1 in used)) { used[$1] = 1; nused++ }
    }
    END {
      for (g in sent) {
        if (g ~ /^call-/) { calls++; if (got[g] == sent[g] && servers[g] == 1) whole++ }
      }
      printf "%d %d %d %d %d\n", total, delivered + 0, calls, whole + 0, nused + 0
    }' /tmp/cases /tmp/sink.log >/tmp/judged
  read -r total delivered calls whole used </tmp/judged
  echo "$what via $dst: $delivered/$total packets delivered ($fragmented reassembled from fragments);" \
    "$whole/$calls calls whole on one server; $used servers used"
  echo "NFT|$fwd|$what|$delivered/$total|$fragmented|$whole/$calls|$used"
  check "nft, forwarding $fwd, $what: every packet delivered, each of the $calls calls whole on one real server, over $used servers" \
    '[ "$delivered" = "$total" ] && [ "$whole" = "$calls" ] && [ "$calls" -ge 6 ] && [ "$used" -ge 2 ]'
  if [ "$pad" -gt 0 ]; then
    check "nft, forwarding $fwd, $what: the INVITEs travelled in fragments ($fragmented reassembled by the real servers)" \
      '[ "$fragmented" -ge "$calls" ]'
  fi
}

vmprobe cases >/tmp/cases

step "nft + forwarding: route"
write_config route $VIP_R $VIP_R6 51
load_rules
nft list table inet sipvsd
start_sipvsd /tmp/sipvsd-nft-route.log || exit $fails
ip rule show | grep -q "fwmark 0x33" || fail "forwarding route: no ip rule for mark 0x33"
run "IPv4" route 198.18.1.2 $VIP_R r4
run "IPv4, INVITEs fragmented" route 198.18.1.2 $VIP_R r4f $PAD
run "IPv6" route 2001:2:0:1::2 $VIP_R6 r6
run "IPv6, INVITEs fragmented" route 2001:2:0:1::2 $VIP_R6 r6f $PAD
echo "kernel queues (queue, peer, waiting, mode, range, dropped, user dropped, last id):"
cat /proc/net/netfilter/nfnetlink_queue

step "nft bypass: sipvsd stopped, the queue rules stay"
stop_sipvsd
# With no program on the queues, `bypass` accepts the packets unmarked; the
# fallback route takes them all to one real server: nothing is lost.
for family in 4 6; do
  if [ $family = 4 ]; then src=198.18.1.2 dst=$VIP_R; else src=2001:2:0:1::2 dst=$VIP_R6; fi
  : >/tmp/sink.log
  ip netns exec cl vmprobe send $src 5062 $dst 5060 20 bypass$family >/dev/null
  settle
  total=$(wc -l </tmp/cases)
  delivered=$(awk -v d=$dst '$2 == d' /tmp/sink.log | wc -l)
  on=$(awk -v d=$dst '$2 == d { print $1 }' /tmp/sink.log | sort -u | tr '\n' ' ')
  echo "NFT|route, sipvsd stopped|IPv$family (bypass)|$delivered/$total|0|fallback route: ${on% }|1"
  check "nft bypass, IPv$family: with sipvsd stopped all $total packets passed, to the fallback route's server ($on)" \
    '[ "$delivered" = "$total" ] && [ "$(echo $on | wc -w)" = 1 ]'
done

step "nft + forwarding: ipvs"
nft delete table inet sipvsd
write_config ipvs $VIP_I $VIP_I6 61
load_rules
start_sipvsd /tmp/sipvsd-nft-ipvs.log || exit $fails
ipvsadm -Sn | grep -q -- "^-A -f 61 " || fail "forwarding ipvs: no fwmark service 61"
run "IPv4" ipvs 198.18.1.2 $VIP_I i4
run "IPv4, INVITEs fragmented" ipvs 198.18.1.2 $VIP_I i4f $PAD
run "IPv6" ipvs 2001:2:0:1::2 $VIP_I6 i6
run "IPv6, INVITEs fragmented" ipvs 2001:2:0:1::2 $VIP_I6 i6f $PAD
ipvsadm -Ln --stats | head -30
stop_sipvsd
check "sipvsd (behind nft) logged no sanitizer error" \
  '! grep -q "ERROR: AddressSanitizer\|runtime error:" /tmp/sipvsd-nft-route.log /tmp/sipvsd-nft-ipvs.log'
nft delete table inet sipvsd

echo
echo "$fails failure(s)"
exit $fails
