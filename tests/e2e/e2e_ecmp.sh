#!/usr/bin/env bash
# End-to-end test of scale-out: three active directors behind a router's ECMP,
# each running sipvsd (template sync to the two others), BIRD from Debian
# with rules/bird-director.conf as shipped, and rules/sipvsd-bgp-health, so
# that a director announces the VIP by BGP only while its sipvsd is fit to
# serve. The router runs BIRD with BGP and BFD sessions to the three and puts
# the VIP's route in the kernel as one multipath route, hashed on addresses
# and ports (fib_multipath_hash_policy=1). SIP trunks (four client addresses;
# two send every call from one port, two from a port per call) place long
# calls (-d 8000) under wrr, so that only a synced template can keep a call
# on its server when its packets move to another director. Judged from what
# the backends received, per Call-ID, as the other e2e tests judge.
#
#   client c   198.18.0.1-4 ----- r0 198.18.0.254  router r (BIRD, AS 65000)
#   router r1 198.18.3.254 ------+ bridge "lan": directors' eth0 198.18.3.11-13 (AS 65001)
#   router r2 198.18.1.254 ------+ bridge "srv": directors' eth1 198.18.1.251-253 (sync, UDP 8848),
#                                  backends b1..b4 198.18.1.1-4, the VIP on loopback,
#                                  answering the clients through the router
#
# Proves, in one run with sync on:
#   1. all three directors active: every call on one backend, and each
#      director carried calls (its packet count shown);
#   2. one director (d2) dies hard mid-run (links down, every process in it
#      SIGKILLed): the router withdraws it (time measured, BFD) and 0 calls
#      break, those whose packets it carried included;
#   3. d2 comes back with an empty table: it announces the VIP only once synced
#      (the router never routes to it before), flows move back to it and 0
#      calls break; then d3's sipvsd alone is killed and restarted: its
#      watcher withdraws the VIP within FALL x INTERVAL and announces it again
#      once the new sipvsd is synced, 0 calls broken;
#   4. b4 added through the API of each director in turn while flows move
#      (right before d3's sipvsd restarts): 0 broken calls on the kept servers;
# Then, with no calls: stopping d1's watcher (maintenance) withdraws d1, and
# its restart announces it again; the health agreement's default (shared):
# when only d1's probes of b1 fail, all three directors take b1 out, and
# bring it back when they pass again; and
#   5. the same run with sync off: prints how many calls broke (and fails if
#      none did: then this test would not show what sync buys).
# New calls are held (SIPp's "p" key) for 0.3 s around each change of the
# route: a call whose INVITE a director decided in its last sync tick (5 ms)
# is not yet on the others (docs/high-availability.md states the window).
# Usage: e2e_ecmp.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_ecmp.sh PATH/TO/sipvsd}")
RULES=$(cd "$HERE/../../rules" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=lib_cluster.sh
source "$HERE/lib_cluster.sh"
e2e_require sipp iptables bird birdc curl jq

VIP=$E2E_VIP4
RATE=3       # calls per second per trunk, four trunks
HOLD=8000    # ms each call lasts, so that calls span every change
TRUNKS=4
e2e_init ecmp
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(bird --version 2>&1 | head -1); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"

# --- topology -------------------------------------------------------------
# director N: what rules/bird-director.conf's header says each one needs.
setup_director() {
  local n=$1 ns; ns=$(e2e_ns "d$n")
  e2e_switch_port "d$n" eth0 lan
  e2e_switch_port "d$n" eth1 srv
  ip -n "$ns" addr add "198.18.3.1$n/24" dev eth0
  ip -n "$ns" addr add "198.18.1.25$n/24" dev eth1
  ip -n "$ns" route add default via 198.18.3.254
  ip -n "$ns" route add $VIP via "$(e2e_backend4 1)"
  nsx "d$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0
  # No --queue-bypass: while a director's sipvsd is dead and not yet
  # withdrawn, its packets are dropped (SIP sends them again, to a director
  # that knows the call) rather than sent to the fallback server.
  nsx "d$n" iptables -t mangle -A PREROUTING -p udp -d $VIP --dport 5060 \
    -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED \
    -j NFQUEUE --queue-balance 0:1 || e2e_die "iptables NFQUEUE rule in d$n"
}

topology() {
  local role i b
  e2e_switch
  for role in c r d1 d2 d3 b1 b2 b3 b4; do e2e_add_ns "$role"; done
  ip link add c0 netns "$(e2e_ns c)" type veth peer name r0 netns "$(e2e_ns r)"
  ip -n "$(e2e_ns c)" link set c0 up
  ip -n "$(e2e_ns r)" link set r0 up
  for i in $(seq 1 $TRUNKS); do ip -n "$(e2e_ns c)" addr add "198.18.0.$i/24" dev c0; done
  ip -n "$(e2e_ns c)" route add default via 198.18.0.254
  ip -n "$(e2e_ns r)" addr add 198.18.0.254/24 dev r0
  e2e_switch_port r r1 lan
  e2e_switch_port r r2 srv
  ip -n "$(e2e_ns r)" addr add 198.18.3.254/24 dev r1
  ip -n "$(e2e_ns r)" addr add 198.18.1.254/24 dev r2
  # L4 hashing: the calls of one address spread by their ports too.
  nsx r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
  for i in 1 2 3; do setup_director "$i"; done
  for i in 1 2 3 4; do
    b=$(e2e_ns "b$i")
    e2e_switch_port "b$i" e0 srv
    ip -n "$b" addr add "$(e2e_backend4 "$i")/24" dev e0
    ip -n "$b" addr add $VIP/32 dev lo
    nsx "b$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.e0.arp_ignore=1 net.ipv4.conf.e0.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.e0.rp_filter=0
    ip -n "$b" route add default via 198.18.1.254
    # The UAS listens on the VIP; the directors' OPTIONS probes come to the backend's own address.
    nsx "b$i" iptables -t nat -A PREROUTING -p udp -d "$(e2e_backend4 "$i")" --dport 5060 \
      -j DNAT --to-destination $VIP:5060 || e2e_die "DNAT rule in b$i"
  done
}

# --- routing daemons ------------------------------------------------------
# The router: a BGP session with BFD to each director, the VIP's routes merged
# into one multipath kernel route. Its configuration is docs/high-availability.md's.
router_conf() {
  cat <<EOF
log "$E2E_DIR/bird-r.log" all;
router id 198.18.3.254;
protocol device { scan time 10; }
protocol bfd {
  interface "r1" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol kernel {
  merge paths on;
  ipv4 { import none; export where proto ~ "director*"; };
}
template bgp director_session {
  local 198.18.3.254 as 65000;
  bfd on;
  hold time 9;
  keepalive time 3;
  connect retry time 2;
  error wait time 1, 10;
  ipv4 { import where net = $VIP/32; export none; };
}
protocol bgp director1 from director_session { neighbor 198.18.3.11 as 65001; }
protocol bgp director2 from director_session { neighbor 198.18.3.12 as 65001; }
protocol bgp director3 from director_session { neighbor 198.18.3.13 as 65001; }
EOF
}

# start_bird ROLE CONF: BIRD in ROLE's namespace, in the foreground (tracked), its socket in the work dir.
start_bird() {
  ip netns exec "$(e2e_ns "$1")" bird -f -c "$2" -s "$E2E_DIR/bird-$1.ctl" -P "$E2E_DIR/bird-$1.pid" \
    >>"$E2E_DIR/bird-$1.out" 2>&1 &
  e2e_track $!
  disown $!
}

# The director's file as shipped, its log to the work dir instead of syslog.
DIRECTOR_BIRD=$E2E_DIR/bird-director.conf
sed "s|^log syslog all;|log \"$E2E_DIR/bird-director.log\" all;|" "$RULES/bird-director.conf" >"$DIRECTOR_BIRD"
grep -q "^log \"$E2E_DIR" "$DIRECTOR_BIRD" || e2e_die "rules/bird-director.conf has no 'log syslog all;' to change"

KEY=$(e2e_sync_key)

# config N on|off: director N's configuration: wrr over b1..b3 (SIP OPTIONS
# health checks), forwarding by sipvsd's own policy routing, the API on
# loopback, sync with the two other directors.
config() {
  local n=$1 sync=$2 file=$E2E_DIR/d$1.json i peers=()
  for i in 1 2 3; do [ "$i" = "$n" ] || peers+=("\"198.18.1.25$i:8848\""); done
  {
    printf '{ "queues": "0-1", "mark_mask": "%s", "forwarding": "route",\n' "$E2E_MARK_MASK"
    printf '  "api": { "listen": "127.0.0.1:8080" }, "state_file": "%s",\n' "$E2E_DIR/d$n.state.json"
    [ "$sync" = on ] && printf '  "sync": { "listen": "198.18.1.25%s:8848", "peers": [%s], "node_id": %s, "sync_id": 7, "key_file": "%s" },\n' \
      "$n" "$(IFS=,; echo "${peers[*]}")" "$n" "$KEY"
    e2e_wrr_services $VIP '"health_check": { "interval_ms": 500, "timeout_ms": 300, "failures": 2, "successes": 2 },'
  } >"$file"
  "$SIPVSD" --check-config "$file" >/dev/null || e2e_die "configuration of d$n rejected"
  echo "$file"
}

# The directors the router's kernel routes the VIP to, as "1 3" (sorted).
nexthops() {
  ip -n "$(e2e_ns r)" -4 route show $VIP 2>/dev/null | grep -o 'via 198\.18\.3\.1[0-9]' | sed 's/.*\.1//' | sort | xargs
}
routes_to() { [ "$(nexthops)" = "$1" ]; }
routes_via() { nexthops | grep -qw "$1"; }
not_routes_via() { ! routes_via "$1"; }

# start_sipvsd N on|off: sipvsd in director N, its log appended to d<N>.log.
start_sipvsd() {
  local conf; conf=$(config "$1" "$2")
  ip netns exec "$(e2e_ns "d$1")" "$SIPVSD" --config "$conf" >>"$E2E_DIR/d$1.log" 2>&1 &
  e2e_track $!
  disown $!
}

# start_watcher N: rules/sipvsd-bgp-health as shipped, told where this test's BIRD listens.
WATCHER_PIDS=()
start_watcher() {
  ip netns exec "$(e2e_ns "d$1")" env BIRD_SOCKET="$E2E_DIR/bird-d$1.ctl" "$RULES/sipvsd-bgp-health" \
    >>"$E2E_DIR/watcher-d$1.log" 2>&1 &
  WATCHER_PIDS[$1]=$!
  e2e_track $!
  disown $!
}

# boot_director N on|off: as after a reboot: links up, sipvsd with an empty
# table, BIRD and the watcher started together.
boot_director() {
  local ns; ns=$(e2e_ns "d$1")
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set eth1 up
  ip -n "$ns" route replace default via 198.18.3.254
  ip -n "$ns" route replace $VIP via "$(e2e_backend4 1)"
  start_sipvsd "$1" "$2"
  start_bird "d$1" "$DIRECTOR_BIRD"
  start_watcher "$1"
}

# kill_director N: the box dies: links down, then every process in its
# namespace (sipvsd, BIRD, the watcher) SIGKILLed; its bridge ports stay up,
# as a switch's would, so only BFD tells the router.
kill_director() {
  ip -n "$(e2e_ns "d$1")" link set eth0 down
  ip -n "$(e2e_ns "d$1")" link set eth1 down
  e2e_kill_ns "d$1"
}

# kill_sipvsd N: sipvsd alone dies (BIRD and the watcher run on).
kill_sipvsd() { pkill -KILL -f "^$SIPVSD --config $E2E_DIR/d$1.json" || e2e_die "no sipvsd in d$1 to kill"; }

# start_cluster on|off: router and three directors, all announcing the VIP.
start_cluster() {
  local n
  for n in 1 2 3; do boot_director "$n" "$1"; done
  for n in 1 2 3; do
    e2e_wait_ms 20 e2e_director_healthy "$n" >/dev/null || { tail -20 "$E2E_DIR/d$n.log" >&2; e2e_die "d$n not healthy within 20 s"; }
  done
  local ms
  ms=$(e2e_wait_ms 30 routes_to "1 2 3") ||
    { cat "$E2E_DIR/watcher-d1.log" >&2; tail -20 "$E2E_DIR/bird-r.log" >&2; e2e_die "the router has no route to all three directors within 30 s (has: $(nexthops))"; }
  e2e_log "sync $1: the router routes the VIP to d1, d2 and d3 ${ms} ms after they were healthy"
  e2e_wait_ping c $VIP || true  # the backends answer ICMP for the VIP too; only a warm-up
}

# stop_cluster: every director's processes stopped, links up, as after a reboot.
stop_cluster() {
  local n
  for n in 1 2 3; do e2e_kill_ns "d$n"; done
  e2e_wait_ms 10 routes_to "" >/dev/null || e2e_die "the router kept routes to stopped directors: $(nexthops)"
}

# --- calls and judging --------------------------------------------------------
UAS_DIRS=()
for i in 1 2 3 4; do UAS_DIRS+=("$E2E_DIR/b$i"); done
start_uas() {
  local i=$1 dir=$E2E_DIR/b$1
  mkdir -p "$dir"
  (cd "$dir" && exec ip netns exec "$(e2e_ns "b$i")" sipp -sf "$HERE/../ops/uas_options.xml" -i $VIP -p 5060 \
    -nostdin -timeout 900s -trace_msg -message_file "$dir/messages.log" -trace_err -error_file "$dir/errors.log" \
    >"$dir/stdout.log" 2>&1) &
  e2e_track $!
  e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"
}

# uac_start NAME CALLS: one SIPp UAC per trunk in the background: trunks 1
# and 3 send every call from port 5061, trunks 2 and 4 each call from a port
# of its own (-t un). SIPp's control port 8880+T takes the "p" key.
UAC_WAITERS=() UAC_PIDS=()
uac_start() {
  local t dir transport
  UAC_WAITERS=() UAC_PIDS=()
  for t in $(seq 1 $TRUNKS); do
    dir=$E2E_DIR/uac-$1-$t
    transport=u1
    [ $((t % 2)) = 0 ] && transport=un
    e2e_uac_start "$dir" $VIP:5060 "198.18.0.$t" "$2" $RATE $HOLD -t $transport -max_socket 1024 -cp $((8880 + t))
    UAC_WAITERS+=("$E2E_UAC_WAITER")
    UAC_PIDS+=("$E2E_UAC_SIPP")
  done
}
# SIPp's "p" key to every trunk toggles the creation of new calls.
uac_key() {
  local t
  for t in $(seq 1 $TRUNKS); do nsx c bash -c "printf p >/dev/udp/127.0.0.1/$((8880 + t))"; done
}
hold_new_calls() { uac_key; sleep 0.3; }
release_new_calls() { uac_key; }

# uac_wait NAME CALLS: waits for every trunk's UAC; sets OK to the successful calls of all.
uac_wait() {
  local w t n
  for w in "${UAC_WAITERS[@]}"; do wait "$w" || true; e2e_untrack "$w"; done
  OK=0
  for t in $(seq 1 $TRUNKS); do
    n=$(e2e_sipp_count "$E2E_DIR/uac-$1-$t/screen.log" "Successful call")
    OK=$((OK + n))
  done
  e2e_log "$1: $OK of $(($2 * TRUNKS)) calls successful at the UACs"
}

# judge SINCE: e2e_affinity over the four backends for every trunk's calls,
# summed, into $E2E_DIR/affinity.
judge() {
  local pid
  for pid in "${UAC_PIDS[@]}"; do e2e_affinity "$pid" "$1" "${UAS_DIRS[@]}"; done |
    awk '$1 == "split" { if (shown++ < 5) print; next } { sum[$1] += $2 } END { for (k in sum) print k, sum[k] }' >"$E2E_DIR/affinity"
}
packets() { e2e_api_at "d$1" GET /v1/stats; jq .packets "$E2E_DIR/api-body"; }

# sync_traffic: what sync has cost so far, per call and per peer: every
# director's bytes and records sent (alives included) over the calls placed,
# which each director holds a template of; sets SYNC_BYTES_PER_CALL.
sync_traffic() {
  local n bytes=0 records=0 datagrams=0 calls
  for n in 1 2 3; do
    e2e_api_at "d$n" GET /v1/sync
    bytes=$((bytes + $(jq .sent.bytes "$E2E_DIR/api-body")))
    records=$((records + $(jq .sent.records "$E2E_DIR/api-body")))
    datagrams=$((datagrams + $(jq .sent.datagrams "$E2E_DIR/api-body")))
  done
  e2e_api_at d1 GET /v1/stats
  calls=$(jq .templates.live "$E2E_DIR/api-body")
  [ "$calls" -gt 0 ] || e2e_die "d1 holds no templates after 8 s of calls"
  SYNC_BYTES_PER_CALL=$((bytes / calls / 2))
  e2e_log "sync traffic so far: $datagrams datagrams, $records records, $bytes bytes for $calls calls: $SYNC_BYTES_PER_CALL bytes per call and peer"
}

# one_run on|off CALLS: the whole sequence; sets the times and counts below.
one_run() {
  local sync=$1 calls=$2
  start_cluster "$sync"
  uac_start "$sync" "$calls"
  sleep 8
  # 1. all three directors carry calls.
  P1=$(packets 1) P2=$(packets 2) P3=$(packets 3)
  e2e_log "sync $sync: packets so far: d1 $P1, d2 $P2, d3 $P3"
  [ "$sync" = on ] && sync_traffic
  # 2. d2 dies.
  hold_new_calls
  KILL_AT=$(e2e_now)
  local t0; t0=$(e2e_now_ms)
  kill_director 2
  WITHDRAW_MS=$(e2e_wait_ms 10 not_routes_via 2) || e2e_die "sync $sync: the router still routes to d2 10 s after it died"
  release_new_calls
  e2e_log "sync $sync: d2 killed at $KILL_AT; the router withdrew it after $WITHDRAW_MS ms (now: $(nexthops))"
  sleep 4
  # 3. d2 comes back as a new director (no state, an empty table): no route to it before it is synced.
  rm -f "$E2E_DIR"/d2.state.json*
  t0=$(e2e_now_ms)
  boot_director 2 "$sync"
  local early=0 i
  for i in $(seq 1 1000); do  # 20 s at most
    routes_via 2 && ! e2e_director_healthy 2 && early=1
    e2e_director_healthy 2 && break
    sleep 0.02
  done
  e2e_director_healthy 2 || { tail -20 "$E2E_DIR/d2.log" >&2; e2e_die "sync $sync: d2 not healthy within 20 s of its restart"; }
  SYNCED_MS=$(($(e2e_now_ms) - t0))
  hold_new_calls
  JOIN_MS=$(e2e_wait_ms 20 routes_to "1 2 3") || e2e_die "sync $sync: the router did not route to d2 again (has: $(nexthops))"
  JOIN_AT=$(e2e_now)
  sleep 0.3
  release_new_calls
  [ $early = 0 ] || e2e_die "sync $sync: the router routed to d2 before it was synced"
  e2e_log "sync $sync: d2 restarted, healthy (synced) after $SYNCED_MS ms, routed to again $JOIN_MS ms later"
  sleep 3
  # 4. b4 added on each director in turn, then d3's sipvsd alone dies and
  #    restarts: flows leave d3 and come back while the directors' server sets changed.
  local n
  for n in 1 2 3; do e2e_api_at "d$n" POST /v1/services/sip4/servers '{"address": "198.18.1.4", "port": 5060, "mark": 4}'; done
  ADD_AT=$(e2e_now)
  sleep 1
  hold_new_calls
  t0=$(e2e_now_ms)
  kill_sipvsd 3
  SIPVSD_WITHDRAW_MS=$(e2e_wait_ms 10 not_routes_via 3) || e2e_die "sync $sync: d3's sipvsd is dead and the router still routes to it"
  release_new_calls
  start_sipvsd 3 "$sync"
  e2e_wait_ms 20 e2e_director_healthy 3 >/dev/null || e2e_die "sync $sync: d3's new sipvsd not healthy within 20 s"
  hold_new_calls
  REJOIN_MS=$(e2e_wait_ms 20 routes_to "1 2 3") || e2e_die "sync $sync: the router did not route to d3 again"
  sleep 0.3
  release_new_calls
  e2e_log "sync $sync: d3's sipvsd killed: withdrawn after $SIPVSD_WITHDRAW_MS ms; the new one routed to $REJOIN_MS ms after it was healthy"
  uac_wait "$sync" "$calls"
}

topology
for i in 1 2 3 4; do start_uas "$i"; done
ROUTER_CONF=$E2E_DIR/bird-r.conf
router_conf >"$ROUTER_CONF"
start_bird r "$ROUTER_CONF"

# --- 1 to 4: sync on --------------------------------------------------------
CALLS=90  # per trunk: 30 s at 3 calls/s
one_run on $CALLS
judge "$KILL_AT"
SPAN_KILL=$(e2e_spanning)
judge "$JOIN_AT"
SPAN_JOIN=$(e2e_spanning)
judge "$ADD_AT"
SPAN_ADD=$(e2e_spanning) ON_B4=$(e2e_aff calls.b4)
BROKEN_SYNC=$(e2e_broken) TOTAL=$((CALLS * TRUNKS))
e2e_log "sync on: $(e2e_aff callids) calls, $(e2e_aff single) on one backend, $(e2e_aff complete) complete there; in progress: $SPAN_KILL at d2's death, $SPAN_JOIN at its return, $SPAN_ADD when b4 came; b4 took $ON_B4"
grep '^split' "$E2E_DIR/affinity" >&2 || true
[ "$P1" -gt 0 ] && [ "$P2" -gt 0 ] && [ "$P3" -gt 0 ] || e2e_die "a director carried no packets: d1 $P1, d2 $P2, d3 $P3"
[ "$(e2e_aff callids)" = $TOTAL ] && [ "$BROKEN_SYNC" = 0 ] && [ "$OK" = $TOTAL ] ||
  e2e_die "sync on: $BROKEN_SYNC broken calls, $(e2e_aff callids) seen by the backends, $OK of $TOTAL successful"
[ "$SPAN_KILL" -ge 40 ] && [ "$SPAN_JOIN" -ge 40 ] && [ "$SPAN_ADD" -ge 40 ] && [ "$ON_B4" -gt 0 ] ||
  e2e_die "too few calls spanned the changes ($SPAN_KILL, $SPAN_JOIN, $SPAN_ADD; b4 took $ON_B4) for this to prove anything"
e2e_pass "1: three directors active: $TOTAL calls, every one on one backend; packets by director at 8 s: d1 $P1, d2 $P2, d3 $P3; sync: $SYNC_BYTES_PER_CALL bytes per call and peer"
e2e_pass "2: d2 killed: the router withdrew it after $WITHDRAW_MS ms (BFD); 0 broken, $SPAN_KILL calls in progress"
e2e_pass "3: d2 back empty: synced after $SYNCED_MS ms, routed to $JOIN_MS ms later, never before; 0 broken, $SPAN_JOIN in progress; d3's sipvsd killed: withdrawn after $SIPVSD_WITHDRAW_MS ms, back $REJOIN_MS ms after healthy"
e2e_pass "4: b4 added on each director in turn while flows moved: 0 broken of $(e2e_aff callids), $SPAN_ADD in progress, b4 took $ON_B4"

# --- drain: stopping the watcher withdraws the director ----------------------
T0=$(e2e_now_ms)
kill -TERM "${WATCHER_PIDS[1]}"
DRAIN_MS=$(e2e_wait_ms 10 routes_to "2 3") || e2e_die "the router still routes to d1 after its watcher stopped (has: $(nexthops))"
start_watcher 1
UNDRAIN_MS=$(e2e_wait_ms 10 routes_to "1 2 3") || e2e_die "the router did not route to d1 again after its watcher restarted"
grep -q "sipvsd_vip disabled: the VIP is withdrawn" "$E2E_DIR/watcher-d1.log" || e2e_die "d1's watcher did not say it withdrew the VIP"
e2e_pass "drain: d1's watcher stopped (maintenance): the router withdrew d1 after $DRAIN_MS ms; restarted: routed to again after $UNDRAIN_MS ms"

# --- health: the default agreement, shared --------------------------------------
# b1 drops d1's probes (the calls' packets keep the client's address: only the
# probes are dropped). d1's own checks see b1 down; under "shared" d2 and d3,
# whose probes pass, take it out too; once d1's probes pass again, all three
# bring it back.
b1_up() {
  e2e_api_at "d$1" GET /v1/stats
  jq -e '.services[0].servers[] | select(.server == "198.18.1.1:5060") | .up' "$E2E_DIR/api-body" >/dev/null
}
b1_down() { ! b1_up "$1"; }
b1_health() {
  e2e_api_at "d$1" GET /v1/stats
  jq -c '.services[0].servers[] | select(.server == "198.18.1.1:5060") | .health | {state, seen_down_by}' "$E2E_DIR/api-body"
}
nsx b1 iptables -I INPUT -s 198.18.1.251 -p udp --dport 5060 -j DROP
T0=$(e2e_now_ms)
e2e_wait_ms 10 b1_down 1 >/dev/null || e2e_die "d1 never saw b1 down with its probes dropped"
D1_MS=$(($(e2e_now_ms) - T0))
e2e_wait_ms 3 b1_down 2 >/dev/null || e2e_die "health shared: d2 kept b1 up while d1 sees it down: $(b1_health 2)"
e2e_wait_ms 3 b1_down 3 >/dev/null || e2e_die "health shared: d3 kept b1 up while d1 sees it down: $(b1_health 3)"
ALL_DOWN_MS=$(($(e2e_now_ms) - T0))
H2=$(b1_health 2)
[ "$H2" = '{"state":"up","seen_down_by":[1]}' ] || e2e_die "d2's view of b1 is not its own probes up, seen down by d1: $H2"
nsx b1 iptables -D INPUT -s 198.18.1.251 -p udp --dport 5060 -j DROP
T0=$(e2e_now_ms)
for n in 1 2 3; do e2e_wait_ms 10 b1_up "$n" >/dev/null || e2e_die "d$n did not bring b1 back: $(b1_health "$n")"; done
ALL_UP_MS=$(($(e2e_now_ms) - T0))
e2e_pass "health (default shared): d1 saw b1 down after $D1_MS ms, all three had it down after $ALL_DOWN_MS ms (d2: $H2); back up on all $ALL_UP_MS ms after d1's probes passed again"

# --- 5: the same run without sync ---------------------------------------------
stop_cluster
rm -f "$E2E_DIR"/d?.state.json*
one_run off $CALLS
judge "$KILL_AT"
BROKEN_NOSYNC=$(e2e_broken)
e2e_log "sync off: $(e2e_aff callids) calls, $(e2e_aff complete) complete on one backend, $BROKEN_NOSYNC broken; $OK successful at the UACs"
[ "$BROKEN_NOSYNC" -gt 0 ] || e2e_die "sync off: no call broke, so the run above does not show what sync buys"
e2e_pass "5: the same run without sync: $BROKEN_NOSYNC of $TOTAL calls broken (d2 withdrawn after $WITHDRAW_MS ms)"

e2e_log "all $E2E_PASSED checks passed in $SECONDS s"
