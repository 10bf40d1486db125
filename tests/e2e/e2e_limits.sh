#!/usr/bin/env bash
# Per-server call limits and drain, with real SIPp calls through the REST API,
# in the namespaces of lib.sh (client, director, three backends; IPv4 service
# "sip4", round robin, persistence 8 s). Judged per Call-ID from what the
# backends received, and from what the API reported while the calls ran:
#   1. b1 gets max_calls 20 (min_calls: the default, 15) through the API
#      while ~100 calls are in progress (6-second calls at 15 per second):
#      b1 never holds more than 20 templates nor more than 20 calls, is
#      overloaded, takes new calls again once its count fell below 15, and
#      every call stays whole; no new call found every server full;
#   2. drain: b2 set to weight 0 while calls run takes no new call, reports
#      "drained" once its last template is gone, and no call is broken;
#   3. every server full (max_calls 3 each): new calls are not placed, follow
#      `unplaced` (accept: the fallback route to b1) and are counted.
# Usage: e2e_limits.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_limits.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp curl iptables jq

PERSIST=8    # persistence_timeout: above a call's 6 s of silence
RATE=15
LCALLS=450   # phase 1: 30 s of new calls, 6 s each: ~90 in progress
DCALLS=180   # phase 2: 12 s of new calls
e2e_init limits
short_persistence() { sed -i "s/\"persistence_timeout\": 300/\"persistence_timeout\": $PERSIST/" "$1"; }
e2e_setup_rr_api "$SIPVSD" short_persistence
UAS=("${E2E_UAS[@]}")
SERVERS=/v1/services/sip4/servers

# server_state SERVER: "live_templates overloaded drained" as GET shows them.
server_state() {
  nsx d curl -sS --max-time 2 "http://127.0.0.1:8080$SERVERS/$1" |
    jq -r '"\(.live_templates) \(.overloaded) \(.drained)"'
}
# sample SERVER FILE SECONDS: the server's state every 0.25 s, "time live
# overloaded drained" per line (the time taken just after the state was read),
# in the background (SAMPLER: its pid).
sample() {
  (for _ in $(seq 1 $(($3 * 4))); do
     state=$(server_state "$1" || echo "- - -")
     echo "$(e2e_stamp) $state"
     sleep 0.25
   done >"$2") &
  SAMPLER=$!
  e2e_track "$SAMPLER"
}
# calls_of NAME: the calls of UAC $E2E_DIR/uac-NAME as the backends saw them
# (e2e_calls), in $E2E_DIR/NAME.calls.
calls_of() { e2e_calls "$(cat "$E2E_DIR/uac-$1/pid")" "${UAS[@]}" >"$E2E_DIR/$1.calls"; }
# most_at_once FILE BACKEND: the most calls the backend had at once, from
# the INVITE and BYE times of an e2e_calls file.
most_at_once() {
  awk -v b="$2" '$2 == b { print $3, 1; print $6, -1 }' "$1" | sort | awk '{ n += $2; if (n > most) most = n } END { print most + 0 }'
}
counter() {  # counter NAME SERVICE: a per-service counter from /metrics
  nsx d curl -sS --max-time 2 http://127.0.0.1:8080/metrics |
    awk -v n="$1" -v s="service=\"$2\"" 'index($0, n "{") == 1 && index($0, s) { v = $NF } END { print v + 0 }'
}

# ---- 1: b1 limited to 20 calls while ~100 are in progress ----
e2e_uac "$E2E_DIR/uac-limit" "$E2E_VIP4:5060" "$E2E_CLIENT4" $LCALLS $RATE 6000 &
UAC=$!
sleep 2
e2e_api PATCH $SERVERS/198.18.1.1:5060 '{"max_calls": 20}'
[ "$(jq -r '"\(.max_calls) \(.min_calls)"' "$E2E_DIR/api-body")" = "20 0" ] ||
  e2e_die "PATCH max_calls: the server shows $(cat "$E2E_DIR/api-body")"
sample 198.18.1.1:5060 "$E2E_DIR/b1.samples" 40
rc=0
wait $UAC || rc=$?
wait "$SAMPLER" || true
ok=$(e2e_sipp_count "$E2E_DIR/uac-limit/screen.log" "Successful call")
calls_of limit
L=$E2E_DIR/limit.calls
S=$E2E_DIR/b1.samples
total=$(e2e_count "$L" 1)
whole=$(e2e_count "$L" "\$5 == 1")
b1_calls=$(e2e_count "$L" "\$2 == \"b1\"")
most_templates=$(awk '$2 ~ /^[0-9]+$/ && $2 > m { m = $2 } END { print m + 0 }' "$S")
overloaded=$(awk '$3 == "true"' "$S" | wc -l)
# Taken up again: samples not overloaded after one that was, and b1's calls
# that began after its first overloaded sample.
again=$(awk '$3 == "true" { was = 1 } was && $3 == "false" { n++ } END { print n + 0 }' "$S")
first_full=$(awk '$3 == "true" { print $1; exit }' "$S")
b1_after=$(e2e_count "$L" "\$2 == \"b1\" && \$3 >= \"${first_full:-9}\"")
at_once=$(most_at_once "$L" b1)
full=$(counter sipvsd_service_servers_full_total sip4)
e2e_log "limit: UAC exit $rc, $ok successful of $LCALLS; backends saw $total calls, $whole whole on one backend; b1: $b1_calls calls ($b1_after after it first was full), at most $most_templates templates and $at_once calls at once; overloaded in $overloaded of $(wc -l <"$S") samples, taking calls again in $again; servers-full count $full"
[ "$total" = $LCALLS ] && [ "$whole" = $LCALLS ] && [ "$ok" = $LCALLS ] ||
  e2e_die "limit: not every call was whole on one backend"
[ "$most_templates" -le 20 ] && [ "$at_once" -le 20 ] || e2e_die "limit: b1 held more than its max_calls 20"
[ "$most_templates" -ge 15 ] && [ "$overloaded" -gt 0 ] || e2e_die "limit: b1 never reached its limit (test too light?)"
[ "$again" -gt 0 ] && [ "$b1_after" -gt 0 ] || e2e_die "limit: b1 did not take new calls again after its calls ended"
[ "$full" = 0 ] || e2e_die "limit: $full new calls found every server full, with two servers free"
e2e_pass "1: b1 with max_calls 20 under ~100 calls in progress: at most $most_templates templates, $at_once calls at once; overloaded, then taking new calls again ($b1_after after it first was full); all $LCALLS calls whole"

# ---- 2: drain b2 while calls run ----
e2e_api PATCH $SERVERS/198.18.1.1:5060 '{"max_calls": 0}'
e2e_uac "$E2E_DIR/uac-drain" "$E2E_VIP4:5060" "$E2E_CLIENT4" $DCALLS $RATE 6000 &
UAC=$!
sleep 4
e2e_api PATCH $SERVERS/198.18.1.2:5060 '{"weight": 0}'
DRAIN_AT=$(e2e_stamp)
read -r live0 _ drained0 <<<"$(server_state 198.18.1.2:5060)"
b2_drained() { [ "$(server_state 198.18.1.2:5060 | cut -d' ' -f3)" = true ]; }
DRAIN_MS=$(e2e_wait_ms 30 b2_drained) || DRAIN_MS=-1  # calls 6 s + persistence 8 s: drained within ~15 s
read -r live _ drained <<<"$(server_state 198.18.1.2:5060)"
rc=0
wait $UAC || rc=$?
ok=$(e2e_sipp_count "$E2E_DIR/uac-drain/screen.log" "Successful call")
calls_of drain
D=$E2E_DIR/drain.calls
b2_late=$(e2e_count "$D" "\$2 == \"b2\" && \$3 >= \"$DRAIN_AT\"")
b2_across=$(e2e_count "$D" "\$2 == \"b2\" && \$3 < \"$DRAIN_AT\" && \$6 >= \"$DRAIN_AT\" && \$5 == 1")
broken=$(e2e_count "$D" "\$5 != 1")
e2e_log "drain: weight 0 at $DRAIN_AT with $live0 templates (drained $drained0); drained $drained after $DRAIN_MS ms with $live; b2 new calls after: $b2_late, its calls across the drain completed there: $b2_across; broken $broken; UAC exit $rc, $ok of $DCALLS"
[ "$drained0" = false ] && [ "$live0" -gt 0 ] || e2e_die "drain: b2 was drained at once, with calls in progress"
[ "$drained" = true ] && [ "$live" = 0 ] || e2e_die "drain: b2 never reported drained"
[ "$b2_late" = 0 ] && [ "$b2_across" -gt 0 ] || e2e_die "drain: b2 took new calls, or had none in progress"
[ "$broken" = 0 ] && [ "$ok" = $DCALLS ] || e2e_die "drain: $broken broken calls"
e2e_pass "2: drain: b2 at weight 0 with $live0 templates took no new call, finished its $b2_across calls in progress and reported drained after $DRAIN_MS ms; 0 broken of $DCALLS"
e2e_api PATCH $SERVERS/198.18.1.2:5060 '{"weight": 1}'

# ---- 3: every server full ----
sleep $((PERSIST + 1))  # the templates of phase 2 expire
for i in 1 2 3; do e2e_api PATCH $SERVERS/198.18.1.$i:5060 '{"max_calls": 3}'; done
full0=$(counter sipvsd_service_servers_full_total sip4)
e2e_uac "$E2E_DIR/uac-full" "$E2E_VIP4:5060" "$E2E_CLIENT4" 30 30 3000 || true
full1=$(counter sipvsd_service_servers_full_total sip4)
calls_of full
F=$E2E_DIR/full.calls
placed=$(e2e_count "$F" "\$2 != \"b1\"")
on_b1=$(e2e_count "$F" "\$2 == \"b1\"")
whole=$(e2e_count "$F" "\$5 == 1")
e2e_log "full: 30 calls at once over 3 servers of max_calls 3: $placed on b2/b3, $on_b1 on b1 (its 3 and the fallback route's); $whole whole; servers-full count +$((full1 - full0))"
[ "$placed" -le 6 ] && [ "$on_b1" -ge 24 ] || e2e_die "full: calls were placed beyond the servers' limits"
[ $((full1 - full0)) -ge 21 ] || e2e_die "full: the new calls that found every server full were not counted"
[ "$whole" = 30 ] || e2e_die "full: unplaced calls were not whole (the fallback route takes them all to b1)"
e2e_pass "3: every server full: $((on_b1 - 3)) new calls unplaced, accepted to the fallback route (b1), whole, counted ($((full1 - full0)) in sipvsd_service_servers_full_total)"

e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop"
e2e_log "$E2E_PASSED passed, 0 failed"
echo "$E2E_PASSED passed, 0 failed"
