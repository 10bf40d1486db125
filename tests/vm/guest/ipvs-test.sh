#!/bin/sh
# ipvs-test.sh: runs inside the VM (Debian's kernel, real IPVS), as /init's test.
#
# The guest's root namespace is the director: VIP1 (sipvsd: NFQUEUE, then
# sipvsd's fwmark services) and VIP2 (the kernel's SIP persistence engine)
# on its loopback. Namespaces: the client "cl" and real servers rs1..rs4,
# each with both VIPs on its loopback (direct routing) and a vmprobe sink
# that logs which packet it got. Addresses: 198.18.0.0/15 only; qemu runs
# with -nic none, nothing leaves the VM.
#
# Prints PASS:/FAIL: lines, and COMPARE| lines that the host turns into the
# table of docs/ipvs-comparison.md. Exit status: the number of failures.
# The topology stays for nft-test.sh, which runs next.
. /vmtest/lib.sh

VIP1=198.18.2.100
VIP2=198.18.2.102
CFG=/tmp/sipvsd.json
ipvs_rules() { ipvsadm -Sn 2>/dev/null; }
has_fwm() { ipvs_rules | grep -q -- "^-A -f $1 "; }  # any family
sipvsd_fwm() { ipvs_rules | grep -q -- "^-A -f $1 -s rr -o"; }  # sipvsd's form: rr, one-packet
has_dest() { ipvs_rules | grep -q -- "^-a -f $1 -r $2:5060 -g -w 1"; }  # FWM ADDRESS, direct routing

step "kernel modules"
for m in ip_vs ip_vs_rr ip_vs_wlc ip_vs_sh ip_vs_pe_sip nfnetlink_queue xt_NFQUEUE iptable_mangle veth; do
  modprobe "$m" || fail "modprobe $m"
done
head -1 /proc/net/ip_vs

step "topology"
ip link set lo up
ip addr add $VIP1/32 dev lo
ip addr add $VIP2/32 dev lo
mk() {  # mk NS DIRECTOR_IP NS_IP
  ip netns add "$1"
  ip link add "v-$1" type veth peer name eth0 netns "$1"
  ip addr add "$2/24" dev "v-$1"
  ip link set "v-$1" up
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" route add default via "$2"
}
mk cl 198.18.1.1 198.18.1.2
mk rs1 198.18.3.1 198.18.3.2
mk rs2 198.18.4.1 198.18.4.2
mk rs3 198.18.5.1 198.18.5.2
mk rs4 198.18.6.1 198.18.6.2
for r in rs1 rs2 rs3 rs4; do
  ip -n $r addr add $VIP1/32 dev lo
  ip -n $r addr add $VIP2/32 dev lo
  ip netns exec $r vmprobe sink $r 5060 /tmp/sink.log </dev/null >/dev/null 2>&1 &
done
ip -br addr

step "foreign IPVS services (must survive sipvsd byte for byte)"
# The kernel's SIP PE (the comparison) and fwmark services of someone else,
# every one within sipvsd's mark_mask 0xffffffff: a SIP PE fwmark service with
# one-packet scheduling, a UDP DNS one (-o, wlc), sipvsd's own old form
# (rr -o), one without -o, an IPv6 fwmark 1 (sipvsd has IPv4 mark 1), and an
# IPv6 fwmark 22 that sipvsd's configuration needs too (a conflict: refused).
ipvsadm -A -u $VIP2:5060 -p 60 -M 0.0.0.0 -o --pe sip -s rr
for a in 198.18.3.2 198.18.4.2 198.18.5.2; do ipvsadm -a -u $VIP2:5060 -r $a:5060 -g; done
ipvsadm -A -f 41 -s rr -p 60 -o --pe sip
ipvsadm -a -f 41 -r 198.18.6.2:5060 -g
ipvsadm -A -f 10 -o
ipvsadm -a -f 10 -r 198.18.6.2:53 -g -w 3
ipvsadm -A -f 11 -s rr -o
ipvsadm -a -f 11 -r 198.18.5.2:5060 -g -w 1
ipvsadm -A -f 256 -s wlc
ipvsadm -a -f 256 -r 198.18.6.2:5060 -g
ipvsadm -A -f 7 -s rr
ipvsadm -A -f 1 -6 -s wlc
ipvsadm -a -f 1 -6 -r [2001:2:0:6::2]:5060 -g
ipvsadm -A -f 22 -6 -s sh
ipvsadm -a -f 22 -6 -r [2001:2:0:6::3]:5060 -i
ipvs_rules >/tmp/foreign.before
cat /tmp/foreign.before
check "the 8 foreign services are in place" '[ "$(grep -c "^-A " /tmp/foreign.before)" = 8 ]'
# The foreign services as ipvsadm -Sn shows them now: each service block
# (its -A line and the -a lines under it) whose -A line was there before.
foreign_now() {
  ipvs_rules | awk 'NR == FNR { before[$0] = 1; next } /^-A / { keep = ($0 in before) } keep' /tmp/foreign.before -
}
foreign_same() {  # foreign_same WHEN
  if foreign_now | cmp -s /tmp/foreign.before -; then
    pass "foreign IPVS services byte-identical in ipvsadm -Sn $1"
  else
    fail "foreign IPVS services changed $1: before / now"
    cat /tmp/foreign.before
    foreign_now
  fi
}

step "sipvsd with forwarding: ipvs"
write_config() {  # write_config SERVER...  (ADDRESS:MARK)
  servers=""
  for s in "$@"; do
    servers="$servers${servers:+, }{\"address\": \"${s%:*}\", \"mark\": ${s#*:}}"
  done
  cat > $CFG <<EOF
{ "queues": 0, "mark_mask": "0xffffffff", "forwarding": "ipvs",
  "api": { "listen": "127.0.0.1:8080" },
  "services": [ { "name": "sip", "vip": "$VIP1", "port": 5060, "scheduler": "rr",
      "persistence_timeout": 60, "netmask": "0.0.0.0", "one_packet": true, "pe": "sip",
      "servers": [ $servers ] },
    { "name": "sip6", "vip": "2001:2::100", "port": 5060, "scheduler": "rr",
      "servers": [ { "address": "2001:2:0:3::2", "mark": 21, "forward": "tun" },
                   { "address": "2001:2:0:4::2", "mark": 22 } ] } ] }
EOF
}
write_config 198.18.3.2:1 198.18.4.2:2 198.18.5.2:3
iptables -t mangle -A PREROUTING -d $VIP1 -p udp --dport 5060 -j NFQUEUE --queue-num 0 --queue-bypass
export ASAN_OPTIONS=detect_leaks=0
sipvsd --config $CFG >/tmp/sipvsd.log 2>&1 &
SIPVSD=$!
if ! wait_for 60 "grep -q 'started with' /tmp/sipvsd.log"; then
  fail "sipvsd did not start"
  cat /tmp/sipvsd.log
  exit $fails
fi
cat /tmp/sipvsd.log
ipvs_rules
check "(1) sipvsd created one rr one-packet fwmark service per real server (marks 1, 2, 3)" \
  'sipvsd_fwm 1 && sipvsd_fwm 2 && sipvsd_fwm 3'
check "(1) each holds its real server with direct routing" \
  'has_dest 1 198.18.3.2 && has_dest 2 198.18.4.2 && has_dest 3 198.18.5.2'
foreign_same "after start"
check "a fwmark held by a foreign service (IPv6 22) is refused with an error, not taken over" \
  'grep -q "mark 0x16 of service \"sip6\": IPVS already has fwmark 0x16 (IPv6) sh, which sipvsd did not create; not taken over" /tmp/sipvsd.log'
check "(1) IPv6: fwmark service 21 (IPv6) holds 2001:2:0:3::2 with tunnelling (forward: tun)" \
  'ipvs_rules | grep -q -- "^-A -f 21 .*-s rr -o" && ipvs_rules | grep -q -- "^-a -f 21 .*-r \[2001:2:0:3::2\]:5060 -i -w 1"'
ipvsadm -Ln

step "the same packet sequence through sipvsd (VIP1) and the kernel's SIP PE (VIP2), from one client IP:port"
vmprobe cases >/tmp/cases
ip netns exec cl vmprobe send 198.18.1.2 5060 $VIP1 5060 20
ip netns exec cl vmprobe send 198.18.1.2 5060 $VIP2 5060 20
settle
echo "packets received by the real servers: $(grep -c ' 198\.' /tmp/sink.log) of $(($(wc -l </tmp/cases) * 2)) sent"
ipvsadm -Ln --stats
# Per group (a call of phase 1, an edge case of phase 2) and side: sent,
# delivered, number of real servers that got its packets.
awk -v v1=$VIP1 -v v2=$VIP2 '
  FNR == NR { grp[$1] = $2; if (!($2 in sent)) order[++ng] = $2; sent[$2]++; ord[$1] = sent[$2]; next }
  NF == 3 && $3 > 0 {
    side = ($2 == v1) ? "s" : (($2 == v2) ? "k" : "")
    if (side == "") next
    g = grp[$3]; got[side, g]++; arrived[side, g, ord[$3]] = 1
    if (!((side, g, $1) in seen)) { seen[side, g, $1] = 1; servers[side, g]++ }
    if (!((side, $1) in used)) { used[side, $1] = 1; nused[side]++ }
  }
  END {
    for (i = 1; i <= ng; i++) {
      g = order[i]
      lost["k"] = lost["s"] = ""
      for (n = 1; n <= sent[g]; n++)
        for (sd in lost) if (!((sd, g, n) in arrived)) lost[sd] = lost[sd] (lost[sd] == "" ? "" : ",") n
      print "GROUP", g, sent[g], got["k", g] + 0, servers["k", g] + 0, got["s", g] + 0, servers["s", g] + 0,
        (lost["k"] == "" ? "-" : lost["k"]), (lost["s"] == "" ? "-" : lost["s"])
    }
    print "USED", nused["k"] + 0, nused["s"] + 0
  }' /tmp/cases /tmp/sink.log >/tmp/groups
cat /tmp/groups
calls=$(grep -c '^GROUP call-' /tmp/groups)
k_ok=$(awk '$1 == "GROUP" && $2 ~ /^call-/ && $4 == $3 && $5 == 1' /tmp/groups | wc -l)
s_ok=$(awk '$1 == "GROUP" && $2 ~ /^call-/ && $6 == $3 && $7 == 1' /tmp/groups | wc -l)
read -r _ k_used s_used <<EOF
$(grep '^USED' /tmp/groups)
EOF
check "(1) sipvsd: every packet of each of the $calls interleaved calls reached one real server ($s_ok/$calls)" \
  '[ "$s_ok" = "$calls" ] && [ "$calls" -ge 6 ]'
check "(3) kernel SIP PE: the same ($k_ok/$calls)" '[ "$k_ok" = "$calls" ] && [ "$calls" -ge 6 ]'
check "(1) calls spread over real servers (sipvsd $s_used, kernel $k_used)" '[ "$s_used" -ge 2 ] && [ "$k_used" -ge 2 ]'

cell() {  # cell SENT DELIVERED SERVERS CALLS LOST
  if [ "$2" = 0 ]; then
    echo "dropped (0/$1 delivered)"
  elif [ "$2" != "$1" ]; then
    echo "$2/$1 delivered: packet $5 dropped"
  elif [ "$3" = 1 ] && [ "$4" = 2 ]; then
    echo "$2/$1 delivered, one server: taken as one call"
  elif [ "$4" = 2 ]; then
    echo "$2/$1 delivered, $3 servers: two calls"
  elif [ "$3" = 1 ]; then
    echo "$2/$1 delivered, all to one server"
  else
    echo "$2/$1 delivered, split over $3 servers"
  fi
}
echo "COMPARE|6 calls × 4 requests, interleaved (\`Call-ID:\`)|$k_ok/$calls calls on one server|$s_ok/$calls calls on one server"
while read -r _ g n kd ks sd ss klost slost; do
  case $g in
    compact-i) what='`i:` (compact form) after `Call-ID:`' ;;
    lowercase-name) what='`call-id:`, `CALL-ID:` after `Call-ID:`' ;;
    folded-value) what='value folded onto the next line (`Call-ID:` CRLF SP value)' ;;
    space-before-colon) what='`Call-ID  :  value` (whitespace before the colon)' ;;
    value-case) what='two calls: `CaseX@x`, `casex@x` (values differ in case only)' ;;
    differ-after-at) what='two calls: `same@a.example`, `same@b.example`' ;;
    trailing-space) what='`Call-ID: tw@x` then `Call-ID: tw@x` + trailing spaces' ;;
    no-call-id) what='no Call-ID header' ;;
    empty-call-id) what='empty Call-ID value' ;;
    not-sip) what='not SIP (no request line, no headers)' ;;
    *) continue ;;
  esac
  calls=1
  case $g in value-case | differ-after-at) calls=2 ;; esac
  echo "COMPARE|$what|$(cell "$n" "$kd" "$ks" $calls "$klost")|$(cell "$n" "$sd" "$ss" $calls "$slost")"
done <<EOF
$(grep '^GROUP' /tmp/groups | grep -v '^GROUP call-')
EOF

step "(2) configuration changes: remove a real server, add one"
# The REST API when this sipvsd serves it, else SIGHUP with a changed file.
api=no
API=http://127.0.0.1:8080/v1
if command -v curl >/dev/null && curl -sf -o /dev/null $API/services 2>/dev/null; then api=yes; fi
if [ $api = yes ]; then
  echo "through the REST API"
  curl -sf -X DELETE $API/services/sip/servers/198.18.4.2 >/dev/null || fail "API: DELETE real server"
else
  echo "through SIGHUP with a changed configuration file (this sipvsd serves no REST API)"
  write_config 198.18.3.2:1 198.18.5.2:3
  kill -HUP $SIPVSD
fi
check "(2) removing real server 198.18.4.2 removes fwmark service 2 (via $([ $api = yes ] && echo API || echo SIGHUP))" \
  'wait_for 20 "! has_fwm 2"'
check "(2) the other services stay" 'sipvsd_fwm 1 && sipvsd_fwm 3'
if [ $api = yes ]; then
  curl -sf -X POST -H 'Content-Type: application/json' -d '{"address": "198.18.6.2", "mark": 4}' \
    $API/services/sip/servers >/dev/null || fail "API: POST real server"
else
  write_config 198.18.3.2:1 198.18.5.2:3 198.18.6.2:4
  kill -HUP $SIPVSD
fi
check "(2) adding real server 198.18.6.2 with mark 4 adds fwmark service 4" \
  'wait_for 20 "has_dest 4 198.18.6.2" && sipvsd_fwm 4'
: >/tmp/sink.log
ip netns exec cl vmprobe send 198.18.1.2 5060 $VIP1 5060 20 after >/dev/null
settle
check "(2) after the change no packet reaches the removed server, the new one gets calls" \
  '! grep -q "^rs2 $VIP1" /tmp/sink.log && grep -q "^rs4 $VIP1" /tmp/sink.log'
ipvs_rules
foreign_same "after the changes"
write_config 198.18.3.2:1 198.18.5.2:3 198.18.6.2:4
kill -HUP $SIPVSD
sleep 2
foreign_same "after SIGHUP"

step "periodic reconcile repairs a service deleted by hand"
ipvsadm -D -f 3
check "fwmark service 3 comes back within 15 s" 'wait_for 15 "has_fwm 3"'
foreign_same "after periodic reconciles"

step "stop"
kill -TERM $SIPVSD
wait $SIPVSD
echo "sipvsd exit status $?"
tail -n 25 /tmp/sipvsd.log
check "clean shutdown leaves the fwmark services in place (remove_on_exit false)" 'sipvsd_fwm 1 && sipvsd_fwm 3 && sipvsd_fwm 4'
foreign_same "after stop"
check "sipvsd logged no sanitizer error" '! grep -q "ERROR: AddressSanitizer\|runtime error:" /tmp/sipvsd.log'

echo
echo "$fails failure(s)"
exit $fails
