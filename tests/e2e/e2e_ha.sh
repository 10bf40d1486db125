#!/usr/bin/env bash
# End-to-end test of high availability: two directors, each running sipvsd
# (template sync to the other) and keepalived from Debian with
# rules/keepalived.conf as shipped (VRRP over the clients' bridge, advert 1 s,
# the track script on /healthz). A SIPp UAC places long calls (-d 8000) under
# wrr, so that only a synced template can keep a call on its server. Judged
# from what the backends received, per Call-ID, as the other e2e tests judge.
#
#   client c   198.18.0.1 ----+ bridge "lan" (namespace sw)
#   director d1 eth0 198.18.0.11, d2 198.18.0.12; VIP 198.18.0.100 by VRRP
#   director d1 eth1 198.18.1.251, d2 198.18.1.252; the servers' gateway
#              198.18.1.254 by VRRP; sync between .251 and .252 (UDP 8848)
#   backends b1..b4 198.18.1.1-4 -+ bridge "srv"; the VIP on loopback
#
# Proves, in order:
#   1. failover: the master (d1) dies hard mid-run (SIGKILL of sipvsd and
#      keepalived, its links down): the VIP moves to d2 (time measured) and
#      every call completes on one backend, those in progress at the failure
#      included: 0 broken calls;
#   2. fail-back: d1 restarts with an empty table, asks d2 for it, says
#      synced, and only then takes the VIP back (preempt): 0 broken calls;
#   3. a backend removed and another added through the API of both directors
#      while calls run: the calls of the kept servers stay whole, the new one
#      takes calls, and the standby holds templates for it;
#   4. the failover of 1 with sync over a multicast group instead of peers;
#   5. the run of 1 with sync off: prints how many calls broke (and fails if
#      none did: then this test would not show what sync buys);
#   6. the failover of 1 with the eBPF fast path on both directors, under a
#      20 s persistence timeout, with 31 s calls that send an INFO every
#      second: after its INVITE only the fast path sees a call, so d2 still
#      holds the calls older than 20 s only because d1 re-announced what its
#      map saw; d2's map holds d1's calls before the failure (copied as sync
#      installs them) and places them after it: 0 broken calls. (The timeout
#      must outlast half of itself plus the failover and SIP's retransmission
#      backoff, about 5 s here: d1 re-announces at half the timeout.)
# New calls are held (SIPp's "p" key, on its control socket) from 0.3 s before
# each VIP move until it is done: a call whose INVITE the old master decided
# in the last few ms (the sync thread's 5 ms tick) is not yet on the other
# director, a window docs/high-availability.md states. Calls in progress run on.
# Usage: e2e_ha.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_ha.sh PATH/TO/sipvsd}")
RULES=$(cd "$HERE/../../rules" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=lib_cluster.sh
source "$HERE/lib_cluster.sh"
e2e_require sipp iptables keepalived curl jq

RATE=10        # calls per second
HOLD=8000      # ms each call lasts, so that calls span every VIP move
VIP=198.18.0.100
CTRL=8888      # SIPp's control port (UDP, in the client's namespace)
e2e_init ha
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(keepalived --version 2>&1 | head -1); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"

# --- topology -------------------------------------------------------------
# director N: what rules/keepalived.conf's header says each director needs,
# whatever its role.
setup_director() {
  local n=$1 ns; ns=$(e2e_ns "d$n")
  e2e_switch_port "d$n" eth0 lan
  e2e_switch_port "d$n" eth1 srv
  ip -n "$ns" addr add "198.18.0.1$n/24" dev eth0
  ip -n "$ns" addr add "198.18.1.25$n/24" dev eth1
  nsx "d$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0 net.ipv4.conf.eth1.accept_local=1
  # It holds the VIP: marked packets must find their rules before the local table.
  ip -n "$ns" rule add pref 32000 lookup local
  ip -n "$ns" rule del pref 0 lookup local
  ip -n "$ns" rule add pref 31000 iif eth0 to $VIP ipproto udp dport 5060 lookup main
  ip -n "$ns" route add $VIP via "$(e2e_backend4 1)"
  # What the fast path marked (6) skips the queue; everything else comes unmarked.
  nsx "d$n" iptables -t mangle -A PREROUTING -p udp -d $VIP --dport 5060 -m mark --mark "0x0/$E2E_MARK_MASK" \
    -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED \
    -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "iptables NFQUEUE rule in d$n"
}

topology() {
  local role i
  e2e_switch
  for role in c d1 d2 b1 b2 b3 b4; do e2e_add_ns "$role"; done
  e2e_switch_port c c0 lan
  ip -n "$(e2e_ns c)" addr add $E2E_CLIENT4/24 dev c0
  setup_director 1
  setup_director 2
  for i in 1 2 3 4; do
    local b; b=$(e2e_ns "b$i")
    e2e_switch_port "b$i" e0 srv
    ip -n "$b" addr add "$(e2e_backend4 "$i")/24" dev e0
    ip -n "$b" addr add $VIP/32 dev lo
    nsx "b$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.conf.e0.arp_ignore=1 net.ipv4.conf.e0.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.e0.rp_filter=0
    ip -n "$b" route add default via 198.18.1.254
  done
}

# --- directors --------------------------------------------------------------
KEY=$(e2e_sync_key)

# config N on|multicast|off|fast: director N's configuration: wrr over
# b1..b3, forwarding by sipvsd's own policy routing, the API on loopback, sync
# with the other director (unicast, or over a multicast group on eth1); fast:
# unicast sync, the fast path on eth0 and a FAST_TIMEOUT persistence timeout.
config() {
  local n=$1 sync=$2 other=$((3 - $1)) file=$E2E_DIR/d$1.json persistence=300
  {
    printf '{ "queues": "0-1", "mark_mask": "%s", "forwarding": "route",\n' "$E2E_MARK_MASK"
    printf '  "api": { "listen": "127.0.0.1:8080" },\n'
    if [ "$sync" = fast ]; then
      printf '  "fast_path": { "mode": "on", "interfaces": ["eth0"], "pin_dir": "%s/d%s" },\n' "$E2E_BPFFS" "$n"
      sync=on persistence=$FAST_TIMEOUT
    fi
    [ "$sync" = on ] && printf '  "sync": { "listen": "198.18.1.25%s:8848", "peers": ["198.18.1.25%s:8848"], "node_id": %s, "sync_id": 7, "key_file": "%s" },\n' \
      "$n" "$other" "$n" "$KEY"
    [ "$sync" = multicast ] && printf '  "sync": { "listen": "198.18.1.25%s:8848", "multicast": { "group": "239.255.81.81", "interface": "eth1" }, "node_id": %s, "sync_id": 7, "key_file": "%s" },\n' \
      "$n" "$n" "$KEY"
    E2E_PERSISTENCE=$persistence e2e_wrr_services $VIP
  } >"$file"
  "$SIPVSD" --check-config "$file" >/dev/null || e2e_die "configuration of d$n rejected"
  echo "$file"
}

holds_vip() { ip -n "$(e2e_ns "d$1")" -4 addr show dev eth0 2>/dev/null | grep -q "inet $VIP/"; }

# start_sipvsd N on|multicast|off: sipvsd in director N, its log appended to d<N>.log.
start_sipvsd() {
  local conf; conf=$(config "$1" "$2")
  ip netns exec "$(e2e_ns "d$1")" "$SIPVSD" --config "$conf" >>"$E2E_DIR/d$1.log" 2>&1 &
  e2e_track $!
  disown $!  # killed on purpose below: no job notice from bash
}

# start_keepalived N: keepalived in director N with rules/keepalived.conf,
# changed only as its header says for the second director.
start_keepalived() {
  local n=$1 conf=$E2E_DIR/keepalived-d$1.conf prio=150
  [ "$n" = 2 ] && prio=100
  sed -e "s/router_id sipvsd-1/router_id sipvsd-$n/" -e "s/priority 150/priority $prio/" "$RULES/keepalived.conf" >"$conf"
  grep -q "priority $prio" "$conf" || e2e_die "rules/keepalived.conf has no 'priority 150' to change"
  # As after a reboot: the pid files of a killed keepalived may name a zombie
  # not yet reaped, and keepalived would refuse to start ("already running").
  rm -f "$E2E_DIR/ka-d$n.pid" "$E2E_DIR/ka-d$n-vrrp.pid"
  ip netns exec "$(e2e_ns "d$n")" keepalived -n -l -D -P -f "$conf" -p "$E2E_DIR/ka-d$n.pid" \
    -r "$E2E_DIR/ka-d$n-vrrp.pid" >>"$E2E_DIR/keepalived-d$n.log" 2>&1 &
  e2e_track $!
  disown $!
}

lacks_vip() { ! holds_vip "$1"; }

# kill_director N: the box dies: its links down, then every process in its
# namespace (sipvsd, keepalived and its children) SIGKILLed. Links first: the
# VRRP child of a killed keepalived stops cleanly (parent-death signal) and
# would say goodbye (priority 0), which a dead box never does.
kill_director() {
  local ns; ns=$(e2e_ns "d$1")
  ip -n "$ns" link set eth0 down
  ip -n "$ns" link set eth1 down
  e2e_kill_ns "d$1"
}

# boot_director N on|multicast|off: N comes (back) up as after a reboot: links up, no VIP,
# sipvsd with an empty table (no state file) and keepalived started together.
boot_director() {
  local ns; ns=$(e2e_ns "d$1")
  ip -n "$ns" addr del $VIP/32 dev eth0 2>/dev/null || true
  ip -n "$ns" addr del 198.18.1.254/32 dev eth1 2>/dev/null || true
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set eth1 up
  start_sipvsd "$1" "$2"
  start_keepalived "$1"
}

# start_pair on|multicast|off: both directors up, d1 holding the VIP.
start_pair() {
  start_sipvsd 1 "$1"
  start_sipvsd 2 "$1"
  e2e_wait_ms 15 e2e_director_healthy 1 >/dev/null || { tail -20 "$E2E_DIR/d1.log" >&2; e2e_die "d1 not healthy within 15 s"; }
  e2e_wait_ms 15 e2e_director_healthy 2 >/dev/null || { tail -20 "$E2E_DIR/d2.log" >&2; e2e_die "d2 not healthy within 15 s"; }
  start_keepalived 1
  start_keepalived 2
  local ms
  ms=$(e2e_wait_ms 20 holds_vip 1) || { tail -20 "$E2E_DIR/keepalived-d1.log" >&2; e2e_die "d1 did not take the VIP within 20 s"; }
  e2e_log "sync $1: d1 holds the VIP ${ms} ms after keepalived started"
  holds_vip 2 && e2e_die "both directors hold the VIP"
  e2e_wait_ping c $VIP || e2e_die "the client cannot reach the VIP"
}

# stop_pair: both directors stopped, up again as after a reboot (links up, no VIP).
stop_pair() {
  local n ns
  for n in 1 2; do
    ns=$(e2e_ns "d$n")
    e2e_kill_ns "d$n"
    ip -n "$ns" addr del $VIP/32 dev eth0 2>/dev/null || true
    ip -n "$ns" addr del 198.18.1.254/32 dev eth1 2>/dev/null || true
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set eth1 up
  done
}

# --- calls and judging --------------------------------------------------------
UAS_DIRS=()
for i in 1 2 3 4; do UAS_DIRS+=("$E2E_DIR/b$i"); done

# uac_start NAME CALLS: the long calls, from one IP:port (a trunk), in the background.
uac_start() {
  e2e_uac_start "$E2E_DIR/uac-$1" $VIP:5060 $E2E_CLIENT4 "$2" $RATE $HOLD -cp $CTRL
}
# hold / release: SIPp's "p" key toggles the creation of new calls.
uac_key() { nsx c bash -c "printf p >/dev/udp/127.0.0.1/$CTRL"; }
hold_new_calls() { uac_key; sleep 0.3; }
release_new_calls() { uac_key; }

# uac_wait NAME CALLS: waits for the UAC; sets OK to its successful calls.
uac_wait() {
  wait "$E2E_UAC_WAITER" || true
  e2e_untrack "$E2E_UAC_WAITER"
  OK=$(e2e_sipp_count "$E2E_DIR/uac-$1/screen.log" "Successful call")
  e2e_log "$1: $OK of $2 calls successful at the UAC"
}

# judge SINCE: e2e_affinity over the four backends for the current UAC, into $E2E_DIR/affinity.
judge() { e2e_affinity "$E2E_UAC_SIPP" "$1" "${UAS_DIRS[@]}" >"$E2E_DIR/affinity"; }
live_templates() { e2e_api_at "d$1" GET /v1/stats; jq .templates.live "$E2E_DIR/api-body"; }

# failover NAME: holds new calls, kills d1, releases them; sets FAILOVER_MS
# (kill to the VIP on d2) and KILL_AT.
failover() {
  hold_new_calls
  KILL_AT=$(e2e_now)
  local t0; t0=$(e2e_now_ms)
  kill_director 1
  release_new_calls
  e2e_wait_ms 15 holds_vip 2 >/dev/null || e2e_die "$1: the VIP did not move to d2 within 15 s"
  FAILOVER_MS=$(($(e2e_now_ms) - t0))
  e2e_log "$1: d1 killed at $KILL_AT, the VIP on d2 after $FAILOVER_MS ms"
}

topology
for i in 1 2 3 4; do e2e_start_uas "b$i" $VIP "$E2E_DIR/b$i"; done
for i in 1 2 3 4; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done

# --- 1 and 2: failover and fail-back, sync on ----------------------------------
CALLS=300
start_pair on
uac_start failover $CALLS
sleep 8
failover "sync on"
sleep 4
# d1 reboots empty while d2 serves; keepalived must wait for its table.
T_BOOT=$(e2e_now_ms)
boot_director 1 on
vip_early=0
API_MS=-1
for i in $(seq 1 400); do  # 20 s at most
  holds_vip 1 && vip_early=1
  e2e_director_healthy 1 && break
  [ "$API_MS" = -1 ] && nsx d1 curl -s --max-time 1 -o /dev/null http://127.0.0.1:8080/healthz && API_MS=$(($(e2e_now_ms) - T_BOOT))
  sleep 0.05
done
e2e_director_healthy 1 || { tail -20 "$E2E_DIR/d1.log" >&2; e2e_die "d1 not synced within 20 s of its restart"; }
SYNCED_MS=$(($(e2e_now_ms) - T_BOOT))
hold_new_calls
[ "$API_MS" = -1 ] && API_MS=$SYNCED_MS  # its first answer already said synced
[ $vip_early = 0 ] || e2e_die "d1 took the VIP before it was synced"
holds_vip 1 && e2e_die "d1 took the VIP at once: cannot tell that new calls were held before it moved"
T1=$(live_templates 1)
T2=$(live_templates 2)
e2e_api_at d1 GET /v1/sync
RESYNCS=$(jq .resyncs.requested "$E2E_DIR/api-body")
e2e_log "d1 first answered ${API_MS} ms and was synced ${SYNCED_MS} ms after its restart: $T1 templates (d2 holds $T2), $RESYNCS resync requests"
[ "$T1" -gt 0 ] && [ "$T1" -ge $((T2 - 2)) ] || e2e_die "d1 synced with $T1 templates where d2 holds $T2"
FAILBACK_MS=$(e2e_wait_ms 20 holds_vip 1) || e2e_die "d1 did not take the VIP back within 20 s of being synced"
e2e_wait_ms 5 lacks_vip 2 >/dev/null || e2e_die "d2 kept the VIP"
FAILBACK_AT=$(e2e_now)
sleep 0.3
release_new_calls
e2e_log "fail-back: the VIP on d1 ${FAILBACK_MS} ms after it was synced"
uac_wait failover $CALLS

judge "$KILL_AT"
SPAN_FAILOVER=$(e2e_spanning)
judge "$FAILBACK_AT"
SPAN_FAILBACK=$(e2e_spanning)
BROKEN_SYNC=$(e2e_broken)
e2e_log "sync on: $(e2e_aff callids) calls, $(e2e_aff single) on one backend, $(e2e_aff complete) complete there; $SPAN_FAILOVER spanned the failover, $SPAN_FAILBACK the fail-back"
grep '^split' "$E2E_DIR/affinity" >&2 || true
[ "$OK" = $CALLS ] && [ "$(e2e_aff callids)" = $CALLS ] && [ "$BROKEN_SYNC" = 0 ] ||
  e2e_die "sync on: $BROKEN_SYNC broken calls, $OK of $CALLS successful"
[ "$SPAN_FAILOVER" -ge 40 ] && [ "$SPAN_FAILBACK" -ge 20 ] ||
  e2e_die "too few calls spanned the moves ($SPAN_FAILOVER, $SPAN_FAILBACK) for this to prove anything"
e2e_pass "1: failover, d1 killed: the VIP on d2 after $FAILOVER_MS ms; 0 broken of $CALLS calls, $SPAN_FAILOVER in progress at the failure"
e2e_pass "2: fail-back: d1 restarted empty, synced after $SYNCED_MS ms with $T1 templates, took the VIP $FAILBACK_MS ms later; 0 broken, $SPAN_FAILBACK calls in progress at the move"

# --- 3: a backend removed and another added on both directors -----------------
CALLS=120
SERVERS=/v1/services/sip4/servers
uac_start change $CALLS
sleep 6
for n in 1 2; do
  e2e_api_at "d$n" POST $SERVERS '{"address": "198.18.1.4", "port": 5060, "mark": 4}'
  e2e_api_at "d$n" DELETE $SERVERS/198.18.1.3:5060
done
CHANGE_AT=$(e2e_now)
uac_wait change $CALLS
read -r STAYED BROKEN MOVED < <(e2e_judge "$E2E_UAC_SIPP" b3 "${UAS_DIRS[@]}")
judge "$CHANGE_AT"
ON_B4=$(e2e_aff calls.b4)
e2e_api_at d2 GET "/v1/templates?format=text&service=sip4&limit=100000"
D2_B4=$(grep -c '198\.18\.1\.4:5060' "$E2E_DIR/api-body" || true)
e2e_log "change: $STAYED calls on the kept or new servers, $BROKEN of them broken; $MOVED calls of b3 moved; b4 took $ON_B4; d2 holds $D2_B4 templates for b4"
[ "$BROKEN" = 0 ] && [ "$STAYED" -gt 0 ] || e2e_die "change: $BROKEN calls of the kept servers broken"
[ "$ON_B4" -gt 0 ] && [ "$D2_B4" -gt 0 ] || e2e_die "change: the new server took $ON_B4 calls, the standby holds $D2_B4 templates for it"
e2e_pass "3: b3 removed, b4 added through both APIs mid-run: 0 of $STAYED calls broken on the kept servers; b4 took $ON_B4 calls"

# --- 4: failover with sync over multicast -------------------------------------
stop_pair
start_pair multicast
CALLS=150
uac_start multicast $CALLS
sleep 8
failover "multicast"
uac_wait multicast $CALLS
judge "$KILL_AT"
e2e_log "multicast: $(e2e_aff callids) calls, $(e2e_aff complete) complete on one backend, $(e2e_broken) broken, $(e2e_spanning) in progress at the failure"
grep '^split' "$E2E_DIR/affinity" >&2 || true
[ "$OK" = $CALLS ] && [ "$(e2e_aff callids)" = $CALLS ] && [ "$(e2e_broken)" = 0 ] && [ "$(e2e_spanning)" -ge 40 ] ||
  e2e_die "multicast: $(e2e_broken) broken calls, $OK of $CALLS successful, $(e2e_spanning) spanned the failover"
e2e_pass "4: sync over a multicast group: the VIP on d2 after $FAILOVER_MS ms; 0 broken of $CALLS calls, $(e2e_spanning) in progress at the failure"

# --- 5: failover without sync -------------------------------------------------
stop_pair
start_pair off
uac_start nosync $CALLS
sleep 8
failover "sync off"
uac_wait nosync $CALLS
judge "$KILL_AT"
BROKEN_NOSYNC=$(e2e_broken)
e2e_log "sync off: $(e2e_aff callids) calls, $(e2e_aff complete) complete on one backend, $BROKEN_NOSYNC broken, $(e2e_spanning) in progress at the failure; $OK successful at the UAC"
[ "$BROKEN_NOSYNC" -gt 0 ] || e2e_die "sync off: no call broke, so the runs above do not show what sync buys"
e2e_pass "5: the same failover without sync: $BROKEN_NOSYNC of $CALLS calls broken (the VIP on d2 after $FAILOVER_MS ms)"

# --- 6: failover with the fast path ---------------------------------------------
FAST_TIMEOUT=20
e2e_bpffs
stop_pair
FAST_UAS=()
for i in 1 2 3 4; do
  e2e_stop_ns_processes "b$i"
  e2e_start_uas "b$i" $VIP "$E2E_DIR/fast/b$i" "$HERE/uas_info.xml"
  FAST_UAS+=("$E2E_DIR/fast/b$i")
done
for i in 1 2 3 4; do e2e_wait_udp "b$i" 5060 || e2e_die "the INFO-answering UAS in b$i did not start"; done
start_pair fast
CALLS=150
# The pause argument only sets SIPp's time limit: uac_info.xml times its own INFOs (31 s).
e2e_uac_start "$E2E_DIR/uac-fast" $VIP:5060 $E2E_CLIENT4 $CALLS $RATE 31000 -sf "$HERE/uac_info.xml" -l $CALLS -cp $CTRL
sleep 8
OLD_BEFORE=$(e2e_stamp)  # calls placed before this are older than FAST_TIMEOUT at the failure
sleep $((FAST_TIMEOUT + 1))
e2e_api_at d2 GET /v1/stats
D2_LIVE=$(jq .templates.live "$E2E_DIR/api-body")
D2_MAP=$(for m in templates templates_short; do bpftool -j map dump pinned "$E2E_BPFFS/d2/$m"; done | jq -s "map(length) | add")
D1_HITS=$(e2e_fast_path_count 0 "$E2E_BPFFS/d1")
failover "fast path"
HITS_BEFORE=$(e2e_fast_path_count 0 "$E2E_BPFFS/d2")
uac_wait fast $CALLS
D2_HITS=$(($(e2e_fast_path_count 0 "$E2E_BPFFS/d2") - HITS_BEFORE))
e2e_affinity "$E2E_UAC_SIPP" "$KILL_AT" "${FAST_UAS[@]}" >"$E2E_DIR/affinity"
e2e_calls "$E2E_UAC_SIPP" "${FAST_UAS[@]}" >"$E2E_DIR/fast-calls"
KILL_STAMP=$(tr ' ' T <<<"$KILL_AT")
OLD_SPANNING=$(e2e_count "$E2E_DIR/fast-calls" "\$3 < \"$OLD_BEFORE\" && \$6 > \"$KILL_STAMP\"")
e2e_log "fast path: before the failure d1 placed $D1_HITS messages in the kernel; d2 held $D2_LIVE templates, $D2_MAP of them in its map; after it, d2 placed $D2_HITS"
e2e_log "fast path: $(e2e_aff callids) calls, $(e2e_aff complete) complete on one backend, $(e2e_broken) broken, $(e2e_spanning) in progress at the failure, $OLD_SPANNING of them older than ${FAST_TIMEOUT} s; $OK successful at the UAC"
grep '^split' "$E2E_DIR/affinity" >&2 || true
[ "$D1_HITS" -gt 0 ] && [ "$D2_HITS" -gt 0 ] || e2e_die "fast path: not used ($D1_HITS hits on d1, $D2_HITS on d2 after the failover)"
[ "$D2_MAP" -ge $((D2_LIVE * 9 / 10)) ] && [ "$D2_LIVE" -gt 0 ] || e2e_die "fast path: d2's map holds $D2_MAP of its $D2_LIVE templates"
[ "$OK" = $CALLS ] && [ "$(e2e_aff callids)" = $CALLS ] && [ "$(e2e_broken)" = 0 ] ||
  e2e_die "fast path: $(e2e_broken) broken calls, $OK of $CALLS successful"
[ "$OLD_SPANNING" -ge 40 ] || e2e_die "fast path: only $OLD_SPANNING calls older than the timeout spanned the failover"
e2e_pass "6: with the fast path: the VIP on d2 after $FAILOVER_MS ms; 0 broken of $CALLS calls, $OLD_SPANNING of them kept past the ${FAST_TIMEOUT} s timeout by what d1's map saw; d2's map held $D2_MAP of $D2_LIVE templates and placed $D2_HITS messages after the failure"

e2e_log "all $E2E_PASSED checks passed in $SECONDS s"
