#!/usr/bin/env bash
# Soak test in network namespaces (tests/e2e/lib.sh's topology, four
# backends): steady SIPp calls while the configuration changes every STEP
# seconds through sipvsd's REST API, one curl per change (on the director's
# loopback): the weights of b1-b3 change (PATCH), b4 is added (POST), its
# weight changed, and removed again (DELETE). Proves:
#   1. zero broken calls among those whose server stayed: every call whose
#      INVITE reached b1, b2 or b3 (never removed) reached that backend alone,
#      with INVITE, ACK and BYE (the backends' own logs, per Call-ID);
#      calls on b4 when it is removed move (counted, not judged);
#   2. sipvsd's resident memory is flat: at the end at most RSS_MARGIN_PCT %
#      + RSS_MARGIN_KB above its value after the warm-up (ASan's quarantine is
#      off so that a Debug build can be judged too); the log lists every sample;
#   3. every change is answered 2xx and is visible at once: after each one
#      the service (GET) shows exactly the expected servers and weights;
#   4. bad requests change nothing: once per cycle a weight of -1 (400) or a
#      duplicate mark (409) is refused with a problem+json body, and
#      GET /v1/services and the state file stay byte for byte the same.
# Bounded: SOAK_SECONDS (default 120) of traffic, one step every STEP seconds;
# every request by curl --max-time.
# Usage: ops_soak.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_soak.sh PATH/TO/sipvsd}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
e2e_require sipp curl iptables jq

SOAK_SECONDS=${SOAK_SECONDS:-120}
STEP=${STEP:-4}            # seconds between steps of API changes
RATE=30                    # calls per second
PAUSE_MS=2000              # call duration
WARMUP=15                  # seconds before the first RSS sample
RSS_MARGIN_PCT=10
RSS_MARGIN_KB=4096
CALLS=$((RATE * SOAK_SECONDS))
[ "$SOAK_SECONDS" -gt $((WARMUP + 2 * STEP)) ] || e2e_die "SOAK_SECONDS must exceed $((WARMUP + 2 * STEP))"

e2e_init soak
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $SOAK_SECONDS s at $RATE calls/s, API changes every $STEP s"
e2e_topology 4
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
STATE=$E2E_DIR/state.json
SERVERS=/v1/services/sip4/servers
BODY=$E2E_DIR/api-body

# The IPv4 service (mh, Call-ID persistence with a short timeout so that the
# live templates stay steady) over b1-b3, weights 1; the API on the
# director's loopback, its changes kept in a state file of the test's own.
{
  printf '{ "queues": "0-1", "mark_mask": "%s", "state_file": "%s",\n' "$E2E_MARK_MASK" "$STATE"
  printf '  "api": { "listen": "127.0.0.1:8080" },\n'
  printf '  "services": [ { "name": "sip4", "vip": "%s", "port": 5060, "scheduler": "mh",\n' $E2E_VIP4
  printf '    "persistence_timeout": 10, "netmask": 0, "one_packet": true, "pe": "sip", "servers": ['
  for i in 1 2 3; do
    [ "$i" -gt 1 ] && printf ','
    printf '\n      { "address": "%s", "port": 5060, "weight": 1, "mark": %s }' "$(e2e_backend4 "$i")" "$(e2e_mark4 "$i")"
  done
  printf ' ] } ] }\n'
} >"$CONF"
# The weights the service should show, per backend ("" = not in the service).
WEIGHT=("" 1 1 1 "")

# request METHOD PATH [JSON]: one curl from the director (bounded by
# --max-time); the body goes to $BODY, prints "STATUS CONTENT-TYPE" (status
# 000 when there was no answer).
request() {
  local args=(-sS --max-time 5 -X "$1" -o "$BODY" -w '%{http_code} %{content_type}')
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  nsx d curl "${args[@]}" "http://127.0.0.1:8080$2" || true
}

# api METHOD PATH [JSON]: a request that must succeed (2xx), else the test fails.
api() {
  local code
  code=$(request "$@")
  case $code in
    2??\ *) ;;
    *) e2e_die "API $1 $2 ${3:-}: $code $(cat "$BODY")" ;;
  esac
}

# expect_servers: GET the service and compare its servers' weights with WEIGHT.
expect_servers() {
  local i want="" got
  for i in 1 2 3 4; do
    [ -n "${WEIGHT[$i]}" ] && want+="$(e2e_backend4 "$i")=${WEIGHT[$i]} "
  done
  api GET /v1/services/sip4
  # Pretty-printed JSON: "address" and "weight" occur only in server objects.
  got=$(awk -F'[:,]' '
    /"address":/ { a = $2; gsub(/[" ]/, "", a) }
    /"weight":/ { w = $2; gsub(/ /, "", w) }
    /}/ && a != "" { print a "=" w; a = "" }' "$BODY" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || e2e_die "after $LAST_CHANGE the service shows servers [$got], expected [$want]"
}

CHANGES=0
# change I METHOD [JSON]: a change to backend I's server entry (POST without
# the address in the path), then the service must show the new WEIGHT.
change() {
  local i=$1 method=$2 path=$SERVERS
  [ "$method" = POST ] || path+=/$(e2e_backend4 "$i"):5060
  LAST_CHANGE="$method b$i ${3:-}"
  api "$method" "$path" "${@:3}"
  CHANGES=$((CHANGES + 1))
  expect_servers
}
set_weight() { WEIGHT[$1]=$2; change "$1" PATCH "{\"weight\": $2}"; }
add_b4() { WEIGHT[4]=$1; change 4 POST "{\"address\": \"$(e2e_backend4 4)\", \"port\": 5060, \"weight\": $1, \"mark\": $(e2e_mark4 4)}"; }
remove_b4() { WEIGHT[4]=""; change 4 DELETE; }

BAD=0
# bad_request EXPECTED-STATUS METHOD PATH JSON: a request the API must refuse
# with EXPECTED-STATUS and a problem+json body, leaving the services and the
# state file exactly as they were.
bad_request() {
  local want=$1 code before=$E2E_DIR/services-before; shift
  api GET /v1/services
  e2e_without_live_state "$BODY" "$before"
  cp "$STATE" "$STATE.before"
  code=$(request "$@")
  [ "$code" = "$want application/problem+json" ] && grep -q "\"status\": $want" "$BODY" && grep -q '"detail"' "$BODY" ||
    e2e_die "bad request $1 $2 $3: expected $want with a problem+json body, got $code $(cat "$BODY")"
  e2e_log "refused as expected: $1 $2 $3: $(tr -d '\n' <"$BODY" | tr -s ' ')"
  api GET /v1/services
  e2e_without_live_state "$BODY" "$E2E_DIR/services-after"
  cmp -s "$E2E_DIR/services-after" "$before" ||
    e2e_die "bad request $1 $2 $3 changed the services: $(diff "$before" "$E2E_DIR/services-after")"
  cmp -s "$STATE" "$STATE.before" || e2e_die "bad request $1 $2 $3 changed the state file"
  BAD=$((BAD + 1))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$E2E_SIPVSD_PID/status"; }

"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
# A Debug build runs with ASan: no quarantine (freed memory held back to catch
# use-after-free), or RSS grows by design until the quarantine is full.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
e2e_start_sipvsd "$SIPVSD" "$CONF"
LAST_CHANGE=start
expect_servers
for i in 1 2 3 4; do e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"; done
for i in 1 2 3 4; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done

UAC=$E2E_DIR/uac
e2e_uac_start "$UAC" $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE $PAUSE_MS
UAC_WAITER=$E2E_UAC_WAITER UAC_PID=$E2E_UAC_SIPP

T0=$SECONDS
RSS_START=""
STEPNO=0
while [ $((SECONDS - T0)) -lt $((SOAK_SECONDS - STEP)) ]; do
  sleep "$STEP"
  kill -0 "$E2E_SIPVSD_PID" 2>/dev/null || e2e_die "sipvsd died: $(tail -5 "$E2E_DIR/sipvsd.log")"
  if [ -z "$RSS_START" ] && [ $((SECONDS - T0)) -ge $WARMUP ]; then
    RSS_START=$(rss_kb)
    e2e_log "RSS after warm-up: $RSS_START kB"
  fi
  [ -n "$RSS_START" ] && echo "$((SECONDS - T0)) $(rss_kb)" >>"$E2E_DIR/rss.txt"
  STEPNO=$((STEPNO + 1))
  for i in 1 2 3; do set_weight "$i" $((1 + RANDOM % 3)); done
  case $((STEPNO % 3)) in
    1) add_b4 1 ;;
    2) set_weight 4 2 ;;
    0) remove_b4  # its calls move
      # Once per cycle, alternately, a bad field and a clash with b1's mark.
      if [ $((STEPNO / 3 % 2)) = 1 ]; then
        bad_request 400 PATCH "$SERVERS/$(e2e_backend4 2):5060" '{"weight": -1}'
      else
        bad_request 409 POST "$SERVERS" "{\"address\": \"$(e2e_backend4 4)\", \"port\": 5060, \"mark\": $(e2e_mark4 1)}"
      fi ;;
  esac
done
RSS_END=$(rss_kb)
wait "$UAC_WAITER" || true
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || true

OK=$(e2e_sipp_count "$UAC/screen.log" "Successful call")
FAILED=$(e2e_sipp_count "$UAC/screen.log" "Failed call")
read -r STAYED BROKEN MOVED < <(e2e_judge "$UAC_PID" b4 "$E2E_DIR"/b{1,2,3,4})
RSS_LIMIT=$((RSS_START + RSS_START * RSS_MARGIN_PCT / 100 + RSS_MARGIN_KB))
e2e_log "$CHANGES API changes in $STEPNO steps, $BAD bad requests refused; UAC: $OK successful, $FAILED failed of $CALLS"
e2e_log "calls on b1-b3 (kept): $STAYED, broken: $BROKEN; calls on b4 moved by its removal: $MOVED"
e2e_log "RSS: $RSS_START kB after warm-up, $RSS_END kB at the end (limit $RSS_LIMIT kB); per step (s kB): $(tr '\n' ' ' <"$E2E_DIR/rss.txt")"
[ "$STEPNO" -ge 3 ] && [ "$BAD" -ge 1 ] || e2e_die "only $STEPNO steps ($CHANGES API changes, $BAD bad requests)"
[ "$STAYED" -gt 0 ] || e2e_die "no calls reached b1-b3"
# SIPp's default UAS aborts a call on a retransmitted INVITE, which a stalled
# host provokes: say so when SIPp saw its own overload.
OVERLOAD=$(awk '{ n += gsub(/Overload warning/, "") } END { print n + 0 }' "$E2E_DIR"/*/errors.log 2>/dev/null || true)
[ "$BROKEN" = 0 ] || e2e_die "$BROKEN calls on servers that stayed were broken (SIPp overload warnings, from a busy host: $OVERLOAD)"
[ "$RSS_END" -le "$RSS_LIMIT" ] || e2e_die "RSS grew from $RSS_START to $RSS_END kB"
e2e_log "PASS: $STAYED calls on kept servers, 0 broken, $MOVED moved off b4, $CHANGES API changes, $BAD bad requests refused, RSS $RSS_START -> $RSS_END kB"
