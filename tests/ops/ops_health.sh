#!/usr/bin/env bash
# SIP OPTIONS health checks, end to end in network namespaces (tests/e2e/lib.sh's
# topology: client, director with sipvsd, three backends). Each backend runs a
# SIPp UAS with our scenario (uas_options.xml: calls, and 200 OK to OPTIONS).
# sipvsd probes each backend's own address (198.18.1.i:5060); the probes do
# not go to the VIP, so the director's NFQUEUE rule never sees them. The UAS
# listens on the VIP (direct routing), so each backend DNATs its own address's
# port 5060 to the VIP: the backend "answers on its real address".
#
# Steady calls (one UAC, every call from one IP:port) while backend 2 is
# killed, then restarted. Proves:
#   1. detection: sipvsd marks b2 DOWN within interval x failures + margin of the kill;
#   2. no new calls go to b2 once down: its templates_created counter (from the
#      RTMIN dump) does not move between detection and restart;
#   3. calls on b1 and b3 are undisturbed: every Call-ID they saw, they saw
#      alone and completely (INVITE, ACK, BYE), per the backends' own logs;
#      the UAC's failed calls are at most those placed on b2 before detection;
#   4. restarted, b2 is UP after `successes` good probes and gets calls again;
#   5. the REST API (curl) tells it: GET /v1/stats has each server's health
#      (state, last result, last probe, round trip) and "up", /metrics has
#      sipvsd_server_up, at each of the three stages;
#   6. with on_down "expire" (set by PATCH of the service's health_check
#      through the REST API), killed again: detection within the same bound,
#      b2's live templates drop to 0 at once, calls in progress on it move to
#      b1/b3 (seen there), and b1/b3's own calls stay whole.
# Phase 1 has on_down "keep" (IPVS's default): calls placed on b2 before detection keep
# their template, so their retransmissions (INVITE timer B and BYE: 32 s) wait
# for b2 and reach the restarted UAS; such calls show up "split" between b2's
# two logs and are not counted against the survivors.
# Usage: ops_health.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_health.sh PATH/TO/sipvsd}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
e2e_require sipp curl iptables python3

INTERVAL_MS=500
TIMEOUT_MS=400
FAILURES=3
SUCCESSES=2
# Detection bound: failures x interval, plus one interval (the kill lands
# anywhere within a probe period) plus 500 ms for scheduling and our 100 ms polling.
DETECT_BOUND_MS=$((INTERVAL_MS * FAILURES + INTERVAL_MS + 500))
RATE=20          # calls per second
PAUSE_MS=1000    # call duration
WARMUP=8         # seconds before the kill
DOWN_FOR=10      # seconds b2 stays dead
AFTER=10         # seconds after b2 is up again
CALLS=$((RATE * (WARMUP + DOWN_FOR + AFTER + 6)))

e2e_init health
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" wrr 1 1 1
e2e_config_api "$CONF"
python3 - "$CONF" "$INTERVAL_MS" "$TIMEOUT_MS" "$FAILURES" "$SUCCESSES" <<'PY'
import json, sys
path, interval, timeout, failures, successes = sys.argv[1], *map(int, sys.argv[2:])
c = json.load(open(path))
for s in c["services"]:
    if s["name"] == "sip4":
        s["health_check"] = {"interval_ms": interval, "timeout_ms": timeout, "failures": failures,
                             "successes": successes, "codes": [], "on_down": "keep"}
json.dump(c, open(path, "w"), indent=1)
PY
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"

# start_uas I DIR: the OPTIONS-answering UAS in backend I. Sets UAS_PID.
start_uas() {
  local i=$1 dir=$2
  mkdir -p "$dir"
  (cd "$dir" && exec ip netns exec "$(e2e_ns "b$i")" sipp -sf "$HERE/uas_options.xml" -i $E2E_VIP4 -p 5060 \
    -nostdin -timeout 600s -trace_msg -message_file "$dir/messages.log" -trace_err -error_file "$dir/errors.log" \
    >"$dir/stdout.log" 2>&1) &
  UAS_PID=$!
  E2E_PIDS+=("$UAS_PID")
  e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"
}
for i in 1 2 3; do
  nsx "b$i" iptables -t nat -A PREROUTING -p udp -d "$(e2e_backend4 "$i")" --dport 5060 \
    -j DNAT --to-destination $E2E_VIP4:5060 || e2e_die "DNAT rule in b$i"
  start_uas "$i" "$E2E_DIR/b$i"
  UAS_PIDS[$i]=$UAS_PID
done
e2e_start_sipvsd "$SIPVSD" "$CONF"

# wait_log PATTERN COUNT SECONDS: until PATTERN is in sipvsd's log COUNT times; prints the ms waited.
wait_log() {
  local start; start=$(date +%s%3N)
  local end=$((start + $3 * 1000))
  while [ "$(date +%s%3N)" -lt $end ]; do
    if [ "$(grep -c -- "$1" "$E2E_DIR/sipvsd.log" || true)" -ge "$2" ]; then
      echo $(($(date +%s%3N) - start))
      return 0
    fi
    sleep 0.1
  done
  return 1
}
# expect_health I STATE RESULT: backend I as GET /v1/stats and GET /metrics
# show it: health state and last result, "up", a probe time and for an
# answered probe a round trip; sipvsd_server_up agrees.
expect_health() {
  local server; server="$(e2e_backend4 "$1"):5060"
  e2e_api GET /v1/stats
  python3 - "$E2E_DIR/api-body" "$server" "$2" "$3" <<'PY' || e2e_die "GET /v1/stats: b$1's health is not $2/$3"
import json, sys
body, server, state, result = sys.argv[1:]
s = next(s for s in json.load(open(body))["services"] if s["name"] == "sip4")
r = next(r for r in s["servers"] if r["server"] == server)
h = r["health"]
ok = (h["state"] == state and h["last_result"] == result and r["up"] == (state == "up") and h["last_probe"] > 0
      and (result != "200" or h["last_rtt_ms"] > 0) and (state == "up" or h["last_change"] > 0))
print("  %s: up=%s health=%s" % (server, r["up"], json.dumps(h)), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
  e2e_api GET /metrics
  grep -E "^sipvsd_server_up\{[^}]*server=\"$server\"" "$E2E_DIR/api-body" | grep -q " $([ "$2" = up ] && echo 1 || echo 0)\$" ||
    e2e_die "/metrics: sipvsd_server_up of $server is not $2: $(grep "^sipvsd_server_up" "$E2E_DIR/api-body")"
}

# b2_dump: backend 2's templates_created and live templates in sip4, from a
# fresh RTMIN dump, into B2_CREATED and B2_LIVE.
b2_dump() {
  local pattern='service sip4 server 198.18.1.2:5060 ' before i line
  before=$(grep -c "$pattern" "$E2E_DIR/sipvsd.log" || true)
  kill -RTMIN "$E2E_SIPVSD_PID"
  for i in $(seq 1 50); do
    [ "$(grep -c "$pattern" "$E2E_DIR/sipvsd.log" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  line=$(grep "$pattern" "$E2E_DIR/sipvsd.log" | tail -1)
  B2_CREATED=$(sed -n 's/.*templates_created=\([0-9]*\).*/\1/p' <<<"$line")
  B2_LIVE=$(sed -n 's/.* live=\([0-9-]*\).*/\1/p' <<<"$line")
  [ -n "$B2_CREATED" ] && [ -n "$B2_LIVE" ] || e2e_die "no counters in sipvsd's RTMIN dump"
}

# Probes answered: nothing is DOWN, and each backend saw OPTIONS from the director.
sleep $(( (INTERVAL_MS * (FAILURES + 1)) / 1000 + 1 ))
grep -q 'is DOWN' "$E2E_DIR/sipvsd.log" && e2e_die "a backend went down before the test: $(grep 'is DOWN' "$E2E_DIR/sipvsd.log")"
for i in 1 2 3; do
  e2e_received "$E2E_DIR/b$i" | grep -q $'\tOPTIONS\t.*@sipvsd' || e2e_die "b$i received no OPTIONS probe"
  expect_health "$i" up 200
done

UAC=$E2E_DIR/uac
e2e_uac_start "$UAC" $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE $PAUSE_MS
UAC_WAITER=$E2E_UAC_WAITER UAC_PID=$E2E_UAC_SIPP
sleep $WARMUP

e2e_log "killing the UAS of b2"
T_KILL=$(e2e_now)
kill -KILL "${UAS_PIDS[2]}"
DETECT_MS=$(wait_log 'server 198.18.1.2:5060 is DOWN' 1 20) || e2e_die "b2 not marked down within 20 s"
e2e_log "b2 DOWN after ${DETECT_MS} ms (bound ${DETECT_BOUND_MS} ms)"
[ "$DETECT_MS" -le $DETECT_BOUND_MS ] || e2e_die "detection took ${DETECT_MS} ms > ${DETECT_BOUND_MS} ms"
expect_health 2 down timeout
expect_health 1 up 200
b2_dump
CREATED_AT_DOWN=$B2_CREATED LIVE_AT_DOWN=$B2_LIVE
sleep $DOWN_FOR
b2_dump
CREATED_BEFORE_UP=$B2_CREATED
e2e_log "b2 templates_created: $CREATED_AT_DOWN at detection, $CREATED_BEFORE_UP ${DOWN_FOR} s later; live templates at detection: $LIVE_AT_DOWN (on_down keep)"
[ "$LIVE_AT_DOWN" -gt 0 ] || e2e_die "on_down keep, yet b2 had no templates left when marked down"
[ "$CREATED_AT_DOWN" = "$CREATED_BEFORE_UP" ] || e2e_die "new calls went to b2 while it was down"

e2e_log "restarting the UAS of b2"
T_RESTART=$(e2e_now)
start_uas 2 "$E2E_DIR/b2r"
UP_MS=$(wait_log 'server 198.18.1.2:5060 is UP' 1 20) || e2e_die "b2 not marked up within 20 s"
e2e_log "b2 UP after ${UP_MS} ms"
UP_BOUND_MS=$((INTERVAL_MS * SUCCESSES + INTERVAL_MS + 1500))  # + the UAS's start
[ "$UP_MS" -le $UP_BOUND_MS ] || e2e_die "b2 came back after ${UP_MS} ms > ${UP_BOUND_MS} ms"
expect_health 2 up 200

wait "$UAC_WAITER" || true

TOTAL=$(e2e_sipp_count "$UAC/screen.log" "Successful call")
FAILED=$(e2e_sipp_count "$UAC/screen.log" "Failed call")
# What the surviving backends saw: every call whole, on one backend.
declare -A SURV
while read -r k v; do SURV[$k]=$v; done < <(e2e_affinity "$UAC_PID" "$T_KILL" "$E2E_DIR/b1" "$E2E_DIR/b3")
# Calls whose INVITE reached b2 (before the kill) and b2r (after the restart).
declare -A ALL
while read -r k v; do ALL[$k]=$v; done < <(e2e_affinity "$UAC_PID" "$T_RESTART" "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3" "$E2E_DIR/b2r")
B2R=${ALL[calls.b2r]:-0}
e2e_log "UAC: $TOTAL successful, $FAILED failed of $CALLS"
e2e_log "b1+b3: ${SURV[callids]} Call-IDs, ${SURV[single]} on one backend, ${SURV[complete]} complete; after the kill b1 ${SURV[late.b1]:-0}, b3 ${SURV[late.b3]:-0} new calls"
e2e_log "b2 before the kill: ${ALL[calls.b2]:-0} calls; b2 after the restart: $B2R calls"
[ "${SURV[callids]}" -gt 0 ] || e2e_die "the survivors saw no calls"
[ "${SURV[complete]}" = "${SURV[callids]}" ] || e2e_die "calls on b1/b3 were disturbed: ${SURV[complete]} of ${SURV[callids]} complete"
[ "${SURV[single]}" = "${SURV[callids]}" ] || e2e_die "calls split between backends"
# Lost calls: at most those placed on b2 from one call duration before the kill until detection.
MAX_LOST=$(( RATE * (PAUSE_MS + DETECT_MS + 1000) / 1000 ))
[ "$FAILED" -le "$MAX_LOST" ] || e2e_die "$FAILED calls failed, more than the $MAX_LOST that b2's death can explain"
[ "$B2R" -gt 0 ] || e2e_die "b2 got no calls after it came back"
[ "$((TOTAL + FAILED))" = "$CALLS" ] || e2e_die "UAC: $TOTAL + $FAILED != $CALLS calls"
e2e_log "phase keep: detection ${DETECT_MS} ms (bound ${DETECT_BOUND_MS}), back up ${UP_MS} ms, b2 templates frozen at $CREATED_AT_DOWN while down, ${SURV[complete]}/${SURV[callids]} survivor calls complete, $FAILED lost (bound $MAX_LOST), $B2R calls on b2 after restart"

# Phase 2, on_down "expire" (a merge patch of the service's health_check, so
# the other keys stay): b2 is killed again mid-calls; once down its templates
# are gone at once, so the rest of its calls in progress (ACK, BYE) goes to
# b1 or b3, while the survivors' own calls stay whole.
e2e_api PATCH /v1/services/sip4 '{"health_check": {"on_down": "expire"}}'
python3 - "$E2E_DIR/api-body" "$INTERVAL_MS" <<'PY' || e2e_die "PATCH on_down: $(cat "$E2E_DIR/api-body")"
import json, sys
h = json.load(open(sys.argv[1]))["health_check"]
sys.exit(0 if h["on_down"] == "expire" and h["interval_ms"] == int(sys.argv[2]) else 1)
PY
grep -q '"expire"' "$E2E_DIR/state.json" || e2e_die "on_down expire is not in the state file"
CALLS2=$((RATE * 16))
UAC2=$E2E_DIR/uac2
e2e_uac_start "$UAC2" $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS2 $RATE $PAUSE_MS
UAC2_WAITER=$E2E_UAC_WAITER UAC2_PID=$E2E_UAC_SIPP
sleep 5
e2e_log "killing the UAS of b2 again (on_down expire)"
kill -KILL "$UAS_PID"
DETECT2_MS=$(wait_log 'server 198.18.1.2:5060 is DOWN' 2 20) || e2e_die "b2 not marked down again within 20 s"
b2_dump
e2e_log "b2 DOWN after ${DETECT2_MS} ms; live templates right after: $B2_LIVE"
[ "$DETECT2_MS" -le $DETECT_BOUND_MS ] || e2e_die "detection took ${DETECT2_MS} ms > ${DETECT_BOUND_MS} ms"
[ "$B2_LIVE" -le 0 ] || e2e_die "on_down expire, yet b2 still has $B2_LIVE templates"
wait "$UAC2_WAITER" || true
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || true
read -r STAYED2 BROKEN2 MOVED2 < <(e2e_judge "$UAC2_PID" b2r "$E2E_DIR/b1" "$E2E_DIR/b3" "$E2E_DIR/b2r")
e2e_log "phase expire: calls on b1/b3: $STAYED2, broken: $BROKEN2; calls of b2 whose rest moved to b1/b3: $MOVED2"
[ "$STAYED2" -gt 0 ] || e2e_die "the survivors saw no calls in phase 2"
[ "$BROKEN2" = 0 ] || e2e_die "$BROKEN2 survivor calls disturbed in phase 2"
[ "$MOVED2" -gt 0 ] || e2e_die "on_down expire moved no call in progress off b2"
e2e_log "PASS: keep: detection ${DETECT_MS} ms, 0 new calls to b2 while down, ${SURV[complete]}/${SURV[callids]} survivor calls whole, $B2R calls on b2 after restart; expire: detection ${DETECT2_MS} ms, b2 templates 0 at once, $MOVED2 calls in progress moved, $STAYED2 survivor calls whole"
