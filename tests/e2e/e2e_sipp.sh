#!/usr/bin/env bash
# End-to-end test of sipvsd's data path with SIPp, in network namespaces:
# a client (SIPp UAC, every call from one IP:port, like a SIP trunk), a
# director (iptables NFQUEUE --queue-balance 0:1 --queue-bypass, fwmark policy
# routing, sipvsd with 2 queues) and three backends (the VIP on loopback, one
# SIPp UAS per address family). Judged from what the backends received, per
# Call-ID, since a UAS answers stray BYEs and the UAC's count alone would hide
# broken affinity. Proves, in order:
#   1. every call completes;                      (all phases)
#   2. every message of a call reaches one backend, and only one;
#   3. shares follow weights 1:1:2 with wrr and with mh;
#   4. weight 0 by SIGHUP reload mid-run: no new calls, calls in progress complete;
#   6. a fragmented INVITE (MTU 1280, ~3 kB) is reassembled before NFQUEUE and placed by Call-ID;
#   7. IPv6: points 1-3 on an IPv6 VIP;
#      a clean stop (SIGTERM) unbinds the queues;
#   5. sipvsd killed mid-run: with --queue-bypass packets flow unmarked to the
#      fallback backend and nothing hangs.
# Usage: e2e_sipp.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_sipp.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp iptables

RATE=100        # calls per second
CALLS=400       # per phase
WRR_TOL=2       # percentage points: wrr is deterministic
MH_TOL=10       # mh hashes Call-IDs: binomial spread (sigma ~2.5 points at 400 calls)
T_START=$SECONDS
e2e_init sipp
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(iptables -V); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"

e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" wrr 1 1 2
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
e2e_start_sipvsd "$SIPVSD" "$CONF"
for i in 1 2 3; do
  e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"
  e2e_start_uas "b$i" $E2E_VIP6 "$E2E_DIR/b${i}v6"
done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done
UAS4=("$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
UAS6=("$E2E_DIR/b1v6" "$E2E_DIR/b2v6" "$E2E_DIR/b3v6")
SUMMARY=()

# reload SCHED WEIGHTS...: rewrite the configuration and SIGHUP sipvsd; waits
# (bounded) for the log to say it was applied.
reload() {
  local before
  before=$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)
  e2e_config "$CONF" "$@"
  kill -HUP "$E2E_SIPVSD_PID"
  local i
  for i in $(seq 1 50); do
    [ "$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)" -gt "$before" ] && return 0
    sleep 0.1
  done
  e2e_die "sipvsd did not apply the reload within 5 s"
}

# run_calls NAME TARGET LOCAL_IP CALLS RATE PAUSE_MS [SIPP ARGS]: a UAC phase;
# checks that every call succeeded. Sets UAC_PID.
run_calls() {
  local name=$1 target=$2 local_ip=$3 calls=$4 rate=$5 pause=$6; shift 6
  local t0=$SECONDS rc=0
  e2e_uac "$E2E_DIR/uac-$name" "$target" "$local_ip" "$calls" "$rate" "$pause" "$@" || rc=$?
  UAC_PID=$E2E_UAC_PID
  local ok failed
  ok=$(e2e_sipp_count "$E2E_DIR/uac-$name/screen.log" "Successful call")
  failed=$(e2e_sipp_count "$E2E_DIR/uac-$name/screen.log" "Failed call")
  e2e_log "$name: UAC exit $rc, $ok successful, $failed failed of $calls calls in $((SECONDS - t0)) s"
  [ "$rc" = 0 ] && [ "$ok" = "$calls" ] || e2e_die "$name: not every call completed (point 1)"
}

# check_affinity NAME SINCE EXPECTED_CALLS DIRS...: point 2 from the backends'
# logs; leaves the per-backend numbers in AFF.
declare -A AFF
check_affinity() {
  local name=$1 since=$2 expected=$3; shift 3
  sleep 0.5  # the last BYE's log line
  AFF=()
  local k v
  while read -r k v; do
    [ "$k" = split ] && e2e_log "$name: Call-ID $v reached more than one backend"
    AFF[$k]=$v
  done < <(e2e_affinity "$UAC_PID" "$since" "$@")
  local pct; pct=$(e2e_pct "${AFF[single]}" "${AFF[callids]}")
  e2e_log "$name: backends saw ${AFF[callids]} Call-IDs, ${AFF[single]} on exactly one backend ($pct %), ${AFF[complete]} with INVITE+ACK+BYE there"
  [ "${AFF[callids]}" = "$expected" ] || e2e_die "$name: backends saw ${AFF[callids]} Call-IDs, expected $expected"
  [ "${AFF[single]}" = "$expected" ] || e2e_die "$name: affinity broken (point 2)"
  [ "${AFF[complete]}" = "$expected" ] || e2e_die "$name: some calls lack INVITE, ACK or BYE at their backend"
  SUMMARY+=("$name: $expected calls, affinity $pct %")
}

# check_shares NAME TOLERANCE SUFFIX WEIGHTS...: point 3 (SUFFIX: the log
# directories' after "b<i>", e.g. "v6").
check_shares() {
  local name=$1 tol=$2 suffix=$3; shift 3
  local weights=("$@") total=0 wsum=0 i line=""
  for i in 1 2 3; do total=$((total + ${AFF[calls.b$i$suffix]:-0})); wsum=$((wsum + weights[i - 1])); done
  for i in 1 2 3; do
    local n=${AFF[calls.b$i$suffix]:-0} got want
    got=$(e2e_pct "$n" "$total")
    want=$(e2e_pct "${weights[i - 1]}" "$wsum")
    line+=" b$i $n ($got %, weight ${weights[i - 1]} -> $want %)"
    e2e_within "$got" "$want" "$tol" || e2e_die "$name: b$i got $got % of the calls, expected $want ± $tol (point 3)"
  done
  e2e_log "$name: shares$line, tolerance ± $tol points"
  SUMMARY+=("$name shares:$line")
}

# ---- 1-3: wrr 1:1:2 ----
run_calls wrr $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE 0
check_affinity wrr - $CALLS "${UAS4[@]}"
check_shares wrr $WRR_TOL "" 1 1 2

# ---- a bad file on SIGHUP is refused and the running configuration kept;
# SIGUSR1/SIGUSR2 change the debug level ----
printf '{ "queues": "0-1",\n  "services": [ { "name": "x" ] }\n' >"$CONF"
kill -HUP "$E2E_SIPVSD_PID"
kill -USR1 "$E2E_SIPVSD_PID"
kill -USR2 "$E2E_SIPVSD_PID"
for i in $(seq 1 50); do
  grep -q 'keeping the running configuration' "$E2E_DIR/sipvsd.log" && grep -q 'debug level 0' "$E2E_DIR/sipvsd.log" && break
  sleep 0.1
done
grep -q "reload: $CONF:2:.*keeping the running configuration" "$E2E_DIR/sipvsd.log" ||
  e2e_die "a bad configuration on SIGHUP was not refused with its line and column"
grep -q 'debug level 1' "$E2E_DIR/sipvsd.log" && grep -q 'debug level 0' "$E2E_DIR/sipvsd.log" ||
  e2e_die "SIGUSR1/SIGUSR2 did not change the debug level"
kill -0 "$E2E_SIPVSD_PID" || e2e_die "sipvsd died on a bad reload"
e2e_log "reload: a broken file was refused ($(grep -o 'reload: .*' "$E2E_DIR/sipvsd.log" | head -1 | cut -c1-110)...), sipvsd kept running"

# ---- 1-3: mh 1:1:2 (reloaded) ----
reload mh 1 1 2
cp "$CONF" "$E2E_DIR/mh.json"
e2e_capture_start c c0 "$E2E_DIR/mh.pcap"
run_calls mh $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE 0
e2e_capture_stop
check_affinity mh - $CALLS "${UAS4[@]}"
check_shares mh $MH_TOL "" 1 1 2

# replay: the capture of the mh phase through `sipvsd replay` with the same
# configuration must choose, per Call-ID, the backend that got the call live
# (mh hashes the Call-ID, so a fresh engine decides the same).
check_replay() {
  local name=$1 config=$2 pcap=$3 k v
  "$SIPVSD" replay --config "$config" "$pcap" >"$pcap.replay" 2>"$pcap.replay.err" ||
    e2e_die "$name: sipvsd replay failed: $(cat "$pcap.replay.err")"
  declare -A R=()
  while read -r k v; do R[$k]=$v; done < <(e2e_replay_compare "$UAC_PID" "$pcap.replay" "${UAS4[@]}")
  e2e_log "$name: replay of $(basename "$pcap"): $(tail -1 "$pcap.replay" | sed 's/^# //'); ${R[same]} of ${R[calls]} calls on the backend they had live"
  [ "${R[calls]}" -gt 0 ] && [ "${R[same]}" = "${R[calls]}" ] || e2e_die "$name: replay decided differently from the live run"
  SUMMARY+=("$name: sipvsd replay of the capture put ${R[same]}/${R[calls]} calls where they went live")
}
check_replay replay-mh "$E2E_DIR/mh.json" "$E2E_DIR/mh.pcap"

# ---- 4: weight 0 on b3 by SIGHUP while 3-second calls run ----
reload wrr 1 1 1
QCALLS=600
e2e_uac "$E2E_DIR/uac-quiesce" $E2E_VIP4:5060 $E2E_CLIENT4 $QCALLS $RATE 3000 &
QUAC=$!
sleep 3
HUP_AT=$(e2e_now)
reload wrr 1 1 0
# Applied at some point between the two: judge new calls from the later one.
QUIESCE_AT=$(e2e_now)
e2e_log "quiesce: SIGHUP at $HUP_AT, b3 weight 0 applied by $QUIESCE_AT"
rc=0
wait $QUAC || rc=$?
UAC_PID=$(cat "$E2E_DIR/uac-quiesce/pid" 2>/dev/null || true)
ok=$(e2e_sipp_count "$E2E_DIR/uac-quiesce/screen.log" "Successful call")
e2e_log "quiesce: UAC exit $rc, $ok successful of $QCALLS"
[ "$rc" = 0 ] && [ "$ok" = $QCALLS ] || e2e_die "quiesce: not every call completed (point 4)"
check_affinity quiesce "$QUIESCE_AT" $QCALLS "${UAS4[@]}"
e2e_log "quiesce: new calls after the reload: b1 ${AFF[late.b1]} b2 ${AFF[late.b2]} b3 ${AFF[late.b3]}; calls on b3 in progress across it: ${AFF[spanning.b3]}"
[ "${AFF[late.b3]}" = 0 ] || e2e_die "quiesce: b3 got ${AFF[late.b3]} new calls after its weight became 0"
[ "${AFF[spanning.b3]}" -gt 0 ] || e2e_die "quiesce: no call on b3 was in progress across the reload (test too short?)"
[ "${AFF[late.b1]}" -gt 0 ] && [ "${AFF[late.b2]}" -gt 0 ] || e2e_die "quiesce: b1 and b2 should take the new calls"
SUMMARY+=("quiesce: after weight 0 on b3: new calls b1 ${AFF[late.b1]} b2 ${AFF[late.b2]} b3 0; ${AFF[spanning.b3]} calls in progress on b3 completed there")

# ---- 6: fragmented INVITEs ----
ip -n "$(e2e_ns c)" link set c0 mtu 1280
ip -n "$(e2e_ns d)" link set d0 mtu 1280
# Negative control: without a conntrack match nothing loads defragmentation
# and NFQUEUE gets the first fragment alone (the engine counts it as "fragment").
fragments() {
  kill -RTMIN "$E2E_SIPVSD_PID"
  sleep 0.3
  grep -o ' fragment=[0-9]*' "$E2E_DIR/sipvsd.log" | tail -1 | cut -d= -f2
}
e2e_flush_rules
e2e_nfqueue_rules --no-conntrack
big=$E2E_DIR/big-invite.txt
{
  printf 'INVITE sip:probe@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5099;branch=z9hG4bK-probe\r\n' $E2E_VIP4 $E2E_CLIENT4
  printf 'Call-ID: fragment-probe\r\nCSeq: 1 INVITE\r\nContent-Length: 2600\r\n\r\n'
  head -c 2600 /dev/zero | tr '\0' 'x'
} >"$big"
f0=$(fragments)
nsx c bash -c "cat '$big' >/dev/udp/$E2E_VIP4/5060" || true
sleep 0.3
f1=$(fragments)
e2e_log "fragments: without conntrack sipvsd saw $((f1 - f0)) unreassembled fragment(s) of a $(wc -c <"$big")-byte datagram"
[ $((f1 - f0)) -ge 1 ] || e2e_die "fragments: the negative control saw no fragment (is defragmentation loaded by something else?)"
# A lone fragment cannot be placed: the "unplaced: accept" policy let it through unmarked.
unplaced=$(grep -o 'unplaced_accepted=[0-9]*' "$E2E_DIR/sipvsd.log" | tail -2 | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }')
[ "$unplaced" -ge 1 ] || e2e_die "fragments: the unplaced fragment was not counted as accepted unmarked"
e2e_flush_rules
e2e_nfqueue_rules
FCALLS=60
reload mh 1 1 2
cp "$CONF" "$E2E_DIR/fragments.json"
# On "any": Linux cooked (SLL2) frames, and the INVITEs in fragments.
e2e_capture_start c any "$E2E_DIR/fragments.pcap"
run_calls fragments $E2E_VIP4:5060 $E2E_CLIENT4 $FCALLS 20 0 -sf "$HERE/uac_big_invite.xml"
e2e_capture_stop
check_affinity fragments - $FCALLS "${UAS4[@]}"
f2=$(fragments)
spread=0
for i in 1 2 3; do [ "${AFF[calls.b$i]:-0}" -gt 0 ] && spread=$((spread + 1)); done
biggest=$(grep -ho 'message received \[[0-9]*\] bytes' "${UAS4[@]/%//messages.log}" | grep -o '[0-9]*' | sort -n | tail -1)
e2e_log "fragments: with conntrack $((f2 - f1)) fragments reached sipvsd; largest message at a backend $biggest bytes (MTU 1280); calls per backend ${AFF[calls.b1]:-0}/${AFF[calls.b2]:-0}/${AFF[calls.b3]:-0}"
[ "$f2" = "$f1" ] || e2e_die "fragments: sipvsd saw fragments although conntrack is loaded"
[ "$biggest" -gt 1280 ] || e2e_die "fragments: the INVITEs were not larger than the MTU"
# One source IP:port for every call: only placement by Call-ID spreads them.
[ $spread -ge 2 ] || e2e_die "fragments: all calls on one backend: not placed by Call-ID"
SUMMARY+=("fragments: $FCALLS calls with ${biggest}-byte INVITEs over MTU 1280, all reassembled before NFQUEUE, placed by Call-ID on $spread backends (without conntrack: $((f1 - f0)) raw fragment)")
ip -n "$(e2e_ns c)" link set c0 mtu 1500
ip -n "$(e2e_ns d)" link set d0 mtu 1500
# replay reassembles the fragments as the kernel did before NFQUEUE.
check_replay replay-fragments "$E2E_DIR/fragments.json" "$E2E_DIR/fragments.pcap"
grep -q 'reassembled=' "$E2E_DIR/fragments.pcap.replay" || e2e_die "replay-fragments: nothing was reassembled"
reload wrr 1 1 2

# ---- 7: IPv6 ----
V6CALLS=300
run_calls ipv6 "[$E2E_VIP6]:5060" $E2E_CLIENT6 $V6CALLS $RATE 0
check_affinity ipv6 - $V6CALLS "${UAS6[@]}"
check_shares ipv6 $WRR_TOL v6 1 1 2

# ---- clean stop: SIGTERM unbinds ----
t0=$SECONDS
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop within 10 s of SIGTERM"
grep -q 'queue 0 unbound' "$E2E_DIR/sipvsd.log" && grep -q 'queue 1 unbound' "$E2E_DIR/sipvsd.log" ||
  e2e_die "sipvsd did not unbind its queues on SIGTERM"
e2e_log "stop: SIGTERM, queues unbound, exited in $((SECONDS - t0)) s"
grep -q . <(nsx d cat /proc/net/netfilter/nfnetlink_queue) && e2e_die "a queue is still bound after sipvsd stopped"
E2E_SIPVSD_STARTS=2
e2e_start_sipvsd "$SIPVSD" "$CONF"

# ---- 5: sipvsd killed mid-run ----
KCALLS=500
e2e_uac "$E2E_DIR/uac-kill" $E2E_VIP4:5060 $E2E_CLIENT4 $KCALLS $RATE 1000 &
KUAC=$!
sleep 2
kill -KILL "$E2E_SIPVSD_PID"
wait "$E2E_SIPVSD_PID" 2>/dev/null || true
# Packets decided just before the kill may still be on their way: judge what
# arrives from a moment later.
sleep 0.2
KILLED_AT=$(e2e_now)
t0=$SECONDS
rc=0
wait $KUAC || rc=$?
UAC_PID=$(cat "$E2E_DIR/uac-kill/pid" 2>/dev/null || true)
took=$((SECONDS - t0))
ok=$(e2e_sipp_count "$E2E_DIR/uac-kill/screen.log" "Successful call")
failed=$(e2e_sipp_count "$E2E_DIR/uac-kill/screen.log" "Failed call")
grep -q . <(nsx d cat /proc/net/netfilter/nfnetlink_queue) && e2e_die "the kernel still has a queue bound after SIGKILL"
sleep 0.5
declare -A K=()
# A new call is one the UAC began after the kill. An INVITE sent before it
# may reach a backend only after it, retransmitted: its first copy died in
# the queue with sipvsd. With the fast path, that call keeps the server
# sipvsd chose for it before dying, as any call in progress does.
e2e_first_sent "$E2E_DIR/uac-kill" >"$E2E_DIR/uac-kill/first-sent"
while read -r k v; do [ "$k" != split ] && K[$k]=$v; done < <(E2E_SENT_TIMES="$E2E_DIR/uac-kill/first-sent" \
  e2e_affinity "$UAC_PID" "$KILLED_AT" "${UAS4[@]}")
e2e_log "kill: SIGKILL at $KILLED_AT; UAC exit $rc after $took s more: $ok successful, $failed failed of $KCALLS; new calls after the kill: b1 ${K[late.b1]:-0} b2 ${K[late.b2]:-0} b3 ${K[late.b3]:-0}"
[ "${K[late.b1]:-0}" -gt 0 ] || e2e_die "kill: no call reached the fallback backend after the kill (point 5)"
[ "${K[late.b2]:-0}" = 0 ] && [ "${K[late.b3]:-0}" = 0 ] || e2e_die "kill: unmarked packets should all take the fallback route to b1"
[ $((ok + failed)) = $KCALLS ] || e2e_die "kill: SIPp did not account for every call ($ok + $failed != $KCALLS): something hung"
split=$((${K[callids]:-0} - ${K[single]:-0}))
e2e_log "kill: $split calls in progress on b2/b3 had their ACK/BYE sent to b1 (the UAC still counts them: b1's UAS answers stray BYEs)"
SUMMARY+=("kill: sipvsd SIGKILLed mid-run: the queues went away, ${K[late.b1]} new calls flowed unmarked to the fallback b1, none elsewhere; UAC finished in time ($ok ok, $failed failed); $split calls in progress on b2/b3 lost their backend")

if [ "${E2E_FAST_PATH:-0}" = 1 ]; then
  hits=$(e2e_fast_path_count 0)
  [ "$hits" -gt 0 ] || e2e_die "fast path: no packet was placed on tc ingress"
  SUMMARY+=("fast path: $hits packets placed on tc ingress, $(e2e_fast_path_count 1) misses sent to NFQUEUE")
fi
e2e_log "PASS in $((SECONDS - T_START)) s"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
