#!/usr/bin/env bash
# Flood of distinct Call-IDs against the template cap, in network namespaces
# (tests/e2e/lib.sh's topology, three backends). sipvsd runs with a small
# max_templates and a persistence timeout longer than the test, so templates
# only ever leave by the cap. SIPp first establishes EST_CALLS long calls
# (service "sip4", port 5060); bench/sipgen then fills the table to its cap
# at a rate sipvsd keeps up with, then floods: rounds of FLOOD_CALLS INVITEs,
# each with a Call-ID of its own, flat out, until sipvsd itself has seen
# FLOOD_CALLS of them (a flat-out flood outruns a Debug build; what the queue
# cannot hold passes unqueued, fail-open); sipgen's traffic goes to service "flood" (the
# same VIP, port 5062, the same template table), where bench/sipsink counts
# what the backends get; the SIPp UAS never sees it. The flood's Call-IDs have
# the longest length sipvsd keeps (255 bytes), the costliest templates an
# attacker can make. Both services schedule round robin, so a call whose
# template were lost would most likely change backend.
# Proves:
#   1. memory is bounded by the cap: once the table is at its cap (live ==
#      max, the table_full counters of /v1/stats and /metrics > 0), sipvsd's
#      VmRSS never exceeds its value then + RSS_MARGIN_KB, during the flood or
#      after it (ASan's quarantine off, as in ops_soak.sh), while the sessions
#      it refused would have taken more than that as templates; the flood
#      created no template;
#   2. established calls keep their affinity at the cap: every SIPp call began
#      before the flood and sent its BYE after it, and INVITE, ACK and BYE all
#      reached one backend (the backends' own logs, per Call-ID);
#   3. operators see it: the "template table full" warning appears, at most
#      once per REPORT_PERIOD seconds (not once per packet);
#   4. sipvsd stays up and answers /healthz; every packet of service "flood"
#      was placed with or without a template (packets = templates created +
#      table_full) and the backends received the flood;
#   5. the packets that never reached sipvsd (fail-open) are counted by
#      sipvsd itself (queue "missed", no root needed) as the kernel's packet
#      ids tell them.
# Performance figures (sipgen's rate, the share sipvsd saw before the rest
# passed unqueued, delivery) are reported, not judged. Bounded: each sipgen
# round stops after FLOOD_SECONDS at most, the rounds after MAX_ROUNDS or
# FLOOD_BUDGET seconds, every wait has a limit.
# Usage: ops_flood.sh PATH/TO/sipvsd PATH/TO/sipgen PATH/TO/sipsink   (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_flood.sh PATH/TO/sipvsd PATH/TO/sipgen PATH/TO/sipsink}")
SIPGEN=$(realpath "${2:?usage: ops_flood.sh PATH/TO/sipvsd PATH/TO/sipgen PATH/TO/sipsink}")
SIPSINK=$(realpath "${3:?usage: ops_flood.sh PATH/TO/sipvsd PATH/TO/sipgen PATH/TO/sipsink}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
e2e_require sipp curl iptables python3 jq

FLOOD_CALLS=${FLOOD_CALLS:-1000000}  # the issue's number; lower it for a quick local run
FLOOD_SECONDS=${FLOOD_SECONDS:-30}   # one sipgen round's time bound
FLOOD_BUDGET=${FLOOD_BUDGET:-150}    # seconds for all rounds
MAX_ROUNDS=12
MAX_TEMPLATES=20000
EST_CALLS=300
EST_RATE=100
FILL_RATE=5000    # packets per second: what a Debug sipvsd takes without falling behind
FILL_EXTRA=2000   # beyond the room left, so that every shard of the table fills
CALLID_LEN=255    # sipvsd's longest Call-ID (kMaxSipValue)
TEMPLATE_MIN_BYTES=320  # a template: its node (68 bytes) and a 255-byte Call-ID, rounded down
# The established calls last until well after the flood: their BYEs must come
# once sipvsd is idle again, whatever the flood's speed.
PAUSE_MS=$(((FLOOD_BUDGET + FLOOD_SECONDS + 20) * 1000))
FLOOD_PORT=5062
REPORT_PERIOD=10  # the daemon's kPressureReportInterval
RSS_MARGIN_KB=6144
API=http://127.0.0.1:8080

e2e_init flood
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $FLOOD_CALLS Call-IDs against max_templates $MAX_TEMPLATES"
e2e_topology 3
e2e_nfqueue_rules
nsx d iptables -t mangle -A PREROUTING -p udp -d $E2E_VIP4 --dport $FLOOD_PORT \
  -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID,UNTRACKED \
  -j NFQUEUE --queue-balance 0:1 --queue-bypass || e2e_die "iptables NFQUEUE rule for the flood"

# Marks are unique across services: the flood's are 20 + i, routed like i.
svc_mark() { if [ "${1%%:*}" = flood ]; then echo $((20 + $2)); else e2e_mark4 "$2"; fi; }
for i in 1 2 3; do
  ip -n "$(e2e_ns d)" rule add fwmark "$((20 + i))/$E2E_MARK_MASK" lookup $((100 + i)) pref $((120 + i))
done
CONF=$E2E_DIR/sipvsd.json
{
  printf '{ "queues": "0-1", "mark_mask": "%s", "max_templates": %s, "unplaced": "accept",\n' \
    "$E2E_MARK_MASK" $MAX_TEMPLATES
  printf '  "api": { "listen": "127.0.0.1:8080" },\n  "services": ['
  for svc in sip4:5060 flood:$FLOOD_PORT; do
    [ "${svc%%:*}" = flood ] && printf ','
    printf '\n    { "name": "%s", "vip": "%s", "port": %s, "scheduler": "rr",\n' "${svc%%:*}" $E2E_VIP4 "${svc#*:}"
    printf '      "persistence_timeout": 3600, "netmask": 0, "one_packet": true, "pe": "sip", "servers": ['
    for i in 1 2 3; do
      [ "$i" -gt 1 ] && printf ','
      printf '\n        { "address": "%s", "port": 5060, "mark": %s }' "$(e2e_backend4 "$i")" "$(svc_mark "$svc" "$i")"
    done
    printf ' ] }'
  done
  printf ' ] }\n'
} >"$CONF"
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
# A Debug build runs with ASan: no quarantine (freed memory held back to catch
# use-after-free), or RSS grows by design until the quarantine is full.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
e2e_start_sipvsd "$SIPVSD" "$CONF"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$E2E_SIPVSD_PID/status"; }
api_get() { nsx d curl -sS --fail --max-time 5 "$API$1"; }
# stats_fields: from a /v1/stats body on stdin, "packets live max table_full
# rate_limited flood_packets flood_created flood_table_full".
stats_fields() {
  python3 -c '
import json, sys
s = json.load(sys.stdin)
f = next(x for x in s["services"] if x["name"] == "flood")
print(s["packets"], s["templates"]["live"], s["templates"]["max"], s["drops"]["table_full"],
      s["drops"]["rate_limited"], f["packets"], f["templates_created"], f["drops"]["table_full"])'
}
for i in $(seq 1 50); do api_get /healthz >/dev/null 2>&1 && break; sleep 0.1; done
api_get /healthz >/dev/null || e2e_die "the API does not answer"

for i in 1 2 3; do e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"; done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done
# The receiver of sipgen's traffic: one socket on port 5062 in each backend;
# it stops by itself 15 s after the last packet (longer than the pause
# between filling and flooding).
"$SIPSINK" --netns "$(e2e_ns b1),$(e2e_ns b2),$(e2e_ns b3)" --port $FLOOD_PORT --idle 15 \
  --seconds $((FLOOD_BUDGET + FLOOD_SECONDS + 120)) >"$E2E_DIR/sipsink.out" 2>"$E2E_DIR/sipsink.log" &
SINK_PID=$!
E2E_PIDS+=("$SINK_PID")
for i in $(seq 1 50); do grep -qs ready "$E2E_DIR/sipsink.log" && break; sleep 0.1; done
grep -q ready "$E2E_DIR/sipsink.log" || e2e_die "sipsink did not start: $(cat "$E2E_DIR/sipsink.log")"

# ---- 1: calls established before the flood ----
UAC=$E2E_DIR/uac
e2e_uac_start "$UAC" $E2E_VIP4:5060 $E2E_CLIENT4 $EST_CALLS $EST_RATE $PAUSE_MS
UAC_WAITER=$E2E_UAC_WAITER UAC_PID=$E2E_UAC_SIPP
live=0
for i in $(seq 1 $((EST_CALLS / EST_RATE * 10 + 100))); do
  read -r _ live _ < <(api_get /v1/stats | stats_fields) || live=0
  [ "$live" -ge $EST_CALLS ] && break
  sleep 0.1
done
[ "$live" = $EST_CALLS ] || e2e_die "$live templates after $EST_CALLS calls began"
sleep 1  # the last calls' ACKs
RSS_BEFORE=$(rss_kb)
e2e_log "$EST_CALLS calls established (templates: $live), RSS $RSS_BEFORE kB; filling the table"

# sipgen FILE ARGS...: sipgen from the client to service "flood", its output line in FILE.
sipgen() {
  local out=$1; shift
  nsx c "$SIPGEN" --dst "$E2E_VIP4" --dport $FLOOD_PORT --src "$E2E_CLIENT4" --sport $FLOOD_PORT \
    --callid-len $CALLID_LEN "$@" >"$out" 2>&1 || e2e_die "sipgen failed: $(cat "$out")"
}
gen() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$E2E_DIR/sipgen.out"; }
# idle_stats: waits (at most 60 s) until sipvsd has worked off its queues
# (its packet count stays put for 1 s), then sets the fields of stats_fields.
idle_stats() {
  local prev=-1 i
  for i in $(seq 1 60); do
    read -r packets live max full limited fpackets fcreated ffull < <(api_get /v1/stats | stats_fields) || packets=-2
    [ "$packets" = "$prev" ] && return 0
    prev=$packets
    sleep 1
  done
  e2e_die "sipvsd still busy after 60 s"
}

# ---- 2: the table filled to its cap, at a rate sipvsd keeps up with ----
T_FILL=$SECONDS
ROOM=$((MAX_TEMPLATES - EST_CALLS))
sipgen "$E2E_DIR/fill.out" --calls $((ROOM + FILL_EXTRA)) --count $((ROOM + FILL_EXTRA)) --rate $FILL_RATE \
  --seconds $(((ROOM + FILL_EXTRA) / FILL_RATE + 10)) --tag fill
idle_stats
[ "$max" = $MAX_TEMPLATES ] || e2e_die "templates.max is $max, configured $MAX_TEMPLATES"
[ "$live" = "$max" ] || e2e_die "the table did not reach its cap: $live of $max"
[ "$fcreated" = $ROOM ] || e2e_die "filling created $fcreated templates, room was $ROOM"
sleep 1
RSS_CAP=$(rss_kb)
FULL_AT_CAP=$ffull FCREATED_AT_CAP=$fcreated FPACKETS_AT_CAP=$fpackets
e2e_log "table at its cap: templates $live of $max ($fpackets fill packets, $ffull without room), RSS $RSS_CAP kB (+$((RSS_CAP - RSS_BEFORE)) kB); flooding"

# ---- 3: the flood, with VmRSS and the table sampled every 0.5 s ----
SAMPLES=$E2E_DIR/samples.txt
(
  for _ in $(seq 1 $((2 * (FLOOD_BUDGET + FLOOD_SECONDS + 60)))); do
    [ -e "$SAMPLES.stop" ] && break
    r=$(rss_kb) || break
    s=$(api_get /v1/stats 2>/dev/null | stats_fields 2>/dev/null) || s=""
    echo "$SECONDS $r $s" >>"$SAMPLES"
    sleep 0.5
  done
) &
SAMPLER=$!
E2E_PIDS+=("$SAMPLER")
T_FLOOD=$SECONDS ROUNDS=0 SENT=0 SEEN=0 PPS_ALL=""
while [ "$SEEN" -lt "$FLOOD_CALLS" ] && [ $ROUNDS -lt $MAX_ROUNDS ] && [ $((SECONDS - T_FLOOD)) -lt "$FLOOD_BUDGET" ]; do
  ROUNDS=$((ROUNDS + 1))
  sipgen "$E2E_DIR/sipgen.out" --calls "$FLOOD_CALLS" --count "$FLOOD_CALLS" --seconds "$FLOOD_SECONDS" --tag "flood$ROUNDS"
  [ "$(gen invite)" = "$FLOOD_CALLS" ] ||
    e2e_die "sipgen sent $(gen invite) of $FLOOD_CALLS calls within $FLOOD_SECONDS s (FLOOD_SECONDS to raise)"
  SENT=$((SENT + $(gen sent))) PPS_ALL="$PPS_ALL $(gen pps)"
  idle_stats
  kill -0 "$E2E_SIPVSD_PID" 2>/dev/null || e2e_die "sipvsd died: $(tail -5 "$E2E_DIR/sipvsd.log")"
  SEEN=$((fpackets - FPACKETS_AT_CAP))
  e2e_log "round $ROUNDS: sipgen $(gen sent) INVITEs of distinct calls at $(gen pps) pps in $(gen seconds) s; sipvsd has seen $SEEN flood Call-IDs"
done
GEN_SECONDS=$((SECONDS - T_FLOOD)) PPS=${PPS_ALL# }
AFTER_FLOOD=$(e2e_now)  # the established calls' BYEs must come after this
[ "$SEEN" -ge "$FLOOD_CALLS" ] ||
  e2e_die "sipvsd saw $SEEN of $FLOOD_CALLS flood Call-IDs in $ROUNDS rounds, $GEN_SECONDS s (FLOOD_BUDGET to raise)"
e2e_log "after the flood: templates $live of $max, table_full $full; sipvsd saw $SEEN flood packets, $((fcreated - FCREATED_AT_CAP)) templates created, $((ffull - FULL_AT_CAP)) table_full"
[ "$live" = "$max" ] || e2e_die "the table left its cap: $live of $max"
# Fail-open as sipvsd counts it without root (gaps in the ids of the packets
# it received), against the kernel's ids (its /proc file, root's): every id
# the kernel gave is received or missed, but for those after the last one
# received (their gap shows with the next packet) and those still queued.
read -r IDS RECEIVED MISSED < <(api_get /v1/stats |
  jq -r '[([.queues[].kernel.id_sequence] | add), ([.queues[].packets] | add), ([.queues[].missed] | add)] | @tsv')
UNSEEN=$((IDS - RECEIVED))
e2e_log "fail-open: the kernel gave $IDS packet ids, sipvsd received $RECEIVED, so $UNSEEN never reached it; sipvsd counted $MISSED missed"
[ "$MISSED" -le "$UNSEEN" ] && { [ "$UNSEEN" -lt 100 ] || [ "$MISSED" -ge $((UNSEEN * 9 / 10)) ]; } ||
  e2e_die "sipvsd counted $MISSED packets missed, the kernel's ids say $UNSEEN"
[ "$fcreated" = "$FCREATED_AT_CAP" ] || e2e_die "the flood created $((fcreated - FCREATED_AT_CAP)) templates at the cap"
[ "$full" -gt 0 ] && [ "$ffull" -gt "$FULL_AT_CAP" ] || e2e_die "no table_full counted ($full, flood service $ffull)"
[ "$limited" = 0 ] || e2e_die "rate_limited is $limited without a per-source limit"
[ $((fcreated + ffull)) = "$fpackets" ] ||
  e2e_die "service flood: $fpackets packets != templates created $fcreated + table_full $ffull"
METRIC_FULL=$(api_get /metrics | awk '$1 == "sipvsd_table_full_total" { print $2 }')
[ "${METRIC_FULL:-0}" -gt 0 ] || e2e_die "sipvsd_table_full_total is '${METRIC_FULL:-}'"

# The warning comes with the next report, at most REPORT_PERIOD s later.
for i in $(seq 1 $(((REPORT_PERIOD + 5) * 10))); do
  grep -q 'template table full' "$E2E_DIR/sipvsd.log" && break
  sleep 0.1
done
grep -q 'template table full' "$E2E_DIR/sipvsd.log" || e2e_die "no 'template table full' warning"

# ---- 4: the established calls end (their BYEs), then the verdict ----
wait "$UAC_WAITER" || true
touch "$SAMPLES.stop"
wait "$SAMPLER" || true
api_get /healthz >/dev/null || e2e_die "/healthz does not answer after the flood"
kill -0 "$E2E_SIPVSD_PID" 2>/dev/null || e2e_die "sipvsd died: $(tail -5 "$E2E_DIR/sipvsd.log")"
RSS_END=$(rss_kb)
T_END=$SECONDS
e2e_stop_pid "$SINK_PID" TERM || true
sink() { sed -n "s/.* $1=\([0-9,]*\).*/\1/p" "$E2E_DIR/sipsink.out"; }
DELIVERED=$(sink delivered) PER_SERVER=$(sink per_server) SINK_DROPS=$(sink sink_drops)
FILL_SENT=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' "$E2E_DIR/fill.out")
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || true

# Memory: the highest sample from the flood on, against the cap's.
read -r RSS_PEAK NSAMPLES < <(awk '$2 > peak { peak = $2 } END { print peak + 0, NR }' "$SAMPLES")
[ "$RSS_END" -gt "$RSS_PEAK" ] && RSS_PEAK=$RSS_END
RSS_LIMIT=$((RSS_CAP + RSS_MARGIN_KB))
REFUSED=$((ffull - FULL_AT_CAP))
UNCAPPED_KB=$((REFUSED * TEMPLATE_MIN_BYTES / 1024))  # what the refused sessions would have taken
e2e_log "RSS: $RSS_BEFORE kB before filling, $RSS_CAP kB at the cap, peak $RSS_PEAK kB from the flood on ($NSAMPLES samples: s kB packets live max table_full ... in $SAMPLES), $RSS_END kB at the end; limit $RSS_LIMIT kB, while $REFUSED refused sessions would have taken > $UNCAPPED_KB kB"

# The warning: at least once, at most once per report period since the fill.
LOG_LINES=$(grep -c 'template table full' "$E2E_DIR/sipvsd.log" || true)
LOG_MAX=$(((T_END - T_FILL) / REPORT_PERIOD + 1))
e2e_log "warning lines: $LOG_LINES (at most $LOG_MAX in $((T_END - T_FILL)) s), the first: $(grep -m1 'template table full' "$E2E_DIR/sipvsd.log")"

# Affinity of the established calls (SIPp Call-IDs "N-PID@host").
OK=$(e2e_sipp_count "$UAC/screen.log" "Successful call")
FAILED=$(e2e_sipp_count "$UAC/screen.log" "Failed call")
AFF=$(e2e_affinity "$UAC_PID" "$AFTER_FLOOD" "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
aff() { awk -v k="$1" '$1 == k { print $2 }' <<<"$AFF"; }
SPANNING=$(awk '$1 ~ /^spanning\./ { s += $2 } END { print s + 0 }' <<<"$AFF")
PER_BACKEND=$(awk '$1 ~ /^calls\./ { printf "%s%s=%s", sep, substr($1, 7), $2; sep = " " }' <<<"$AFF")
e2e_log "established calls: SIPp $OK successful, $FAILED failed; backends: $(aff callids) Call-IDs, $(aff single) on one backend, $(aff complete) complete there, $SPANNING with the BYE after the flood ($PER_BACKEND)"
grep '^split ' <<<"$AFF" >&2 || true
e2e_log "flood: sipgen sent $SENT, sipvsd saw $SEEN ($(e2e_pct "$SEEN" "$SENT") %; the rest passed unqueued, fail-open); backends received $DELIVERED of $((SENT + FILL_SENT)) fill and flood packets ($PER_SERVER), sipsink's socket drops $SINK_DROPS"

[ "$RSS_PEAK" -le "$RSS_LIMIT" ] || e2e_die "RSS grew past the cap's: $RSS_CAP -> $RSS_PEAK kB (limit $RSS_LIMIT)"
[ "$UNCAPPED_KB" -gt "$RSS_MARGIN_KB" ] ||
  e2e_die "sipvsd refused too few sessions ($REFUSED) for the memory bound to tell a capped table"
[ "$LOG_LINES" -ge 1 ] && [ "$LOG_LINES" -le "$LOG_MAX" ] || e2e_die "$LOG_LINES warning lines, at most $LOG_MAX expected"
[ "$OK" = $EST_CALLS ] || e2e_die "$OK of $EST_CALLS established calls succeeded"
[ "$(aff callids)" = $EST_CALLS ] && [ "$(aff single)" = $EST_CALLS ] && [ "$(aff complete)" = $EST_CALLS ] ||
  e2e_die "established calls lost their affinity"
[ "$SPANNING" = $EST_CALLS ] || e2e_die "only $SPANNING of $EST_CALLS calls sent their BYE after the flood"
[ "$DELIVERED" -gt 0 ] && [ "$DELIVERED" -le $((SENT + FILL_SENT)) ] ||
  e2e_die "backends received $DELIVERED of $((SENT + FILL_SENT)) fill and flood packets"
e2e_log "PASS: flood of $SENT Call-IDs in $ROUNDS flat-out rounds (pps: $PPS) in $GEN_SECONDS s, sipvsd saw $SEEN; templates $live/$max, table_full $ffull; RSS $RSS_CAP kB at the cap, $RSS_PEAK kB peak, $RSS_END kB at the end (limit $RSS_LIMIT; uncapped > $((RSS_CAP + UNCAPPED_KB))); $LOG_LINES warning line(s) in $((T_END - T_FILL)) s; $EST_CALLS of $EST_CALLS established calls kept their backend across the flood; backends received $DELIVERED"
