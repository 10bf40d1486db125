#!/usr/bin/env bash
# Soak test in network namespaces (tests/e2e/lib.sh's topology, four
# backends): steady SIPp calls while the configuration changes every few
# seconds: weights of b1-b3 change, b4 is added and removed again. Changes go
# through SIGHUP reload, the daemon's apply path that the control plane
# (REST API) also ends in; sipvsd's main does not start the REST API yet.
# Proves:
#   1. zero broken calls among those whose server stayed: every call whose
#      INVITE reached b1, b2 or b3 (never removed) reached that backend alone,
#      with INVITE, ACK and BYE (the backends' own logs, per Call-ID);
#      calls on b4 when it is removed move (counted, not judged);
#   2. sipvsd's resident memory is flat: at the end at most RSS_MARGIN_PCT %
#      + RSS_MARGIN_KB above its value after the warm-up (ASan's quarantine is
#      off so that a Debug build can be judged too); the log lists every sample.
# Bounded: SOAK_SECONDS (default 120) of traffic, one change every STEP seconds.
# Usage: ops_soak.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_soak.sh PATH/TO/sipvsd}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
command -v sipp >/dev/null || { echo "SKIP: sipp (package sip-tester) is not installed"; exit 77; }
command -v iptables >/dev/null || { echo "SKIP: iptables is not installed"; exit 77; }

SOAK_SECONDS=${SOAK_SECONDS:-120}
STEP=${STEP:-4}            # seconds between configuration changes
RATE=30                    # calls per second
PAUSE_MS=2000              # call duration
WARMUP=15                  # seconds before the first RSS sample
RSS_MARGIN_PCT=10
RSS_MARGIN_KB=4096
CALLS=$((RATE * SOAK_SECONDS))
[ "$SOAK_SECONDS" -gt $((WARMUP + 2 * STEP)) ] || e2e_die "SOAK_SECONDS must exceed $((WARMUP + 2 * STEP))"

e2e_init soak
e2e_log "sipvsd: $SIPVSD ($("$SIPVSD" --version)); $SOAK_SECONDS s at $RATE calls/s, a change every $STEP s"
e2e_topology 4
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json

# write_config W1 W2 W3 [W4]: the IPv4 service (mh, Call-ID persistence with
# a short timeout so that the live templates stay steady) over b1-b3, and b4
# when W4 is given.
write_config() {
  local i n=$# w
  {
    printf '{ "queues": "0-1", "mark_mask": "%s",\n' "$E2E_MARK_MASK"
    printf '  "services": [ { "name": "sip4", "vip": "%s", "port": 5060, "scheduler": "mh",\n' $E2E_VIP4
    printf '    "persistence_timeout": 10, "netmask": 0, "one_packet": true, "pe": "sip", "servers": ['
    for i in $(seq 1 "$n"); do
      w=${!i}
      [ "$i" -gt 1 ] && printf ','
      printf '\n      { "address": "%s", "port": 5060, "weight": %s, "mark": %s }' "$(e2e_backend4 "$i")" "$w" "$(e2e_mark4 "$i")"
    done
    printf ' ] } ] }\n'
  } >"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
}

RELOADS=0
reload() {
  local before i
  write_config "$@"
  before=$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)
  kill -HUP "$E2E_SIPVSD_PID"
  for i in $(seq 1 50); do
    if [ "$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)" -gt "$before" ]; then
      RELOADS=$((RELOADS + 1))
      return 0
    fi
    sleep 0.1
  done
  e2e_die "reload not applied within 5 s: $(tail -3 "$E2E_DIR/sipvsd.log")"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$E2E_SIPVSD_PID/status"; }

write_config 1 1 1
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
# A Debug build runs with ASan: no quarantine (freed memory held back to catch
# use-after-free), or RSS grows by design until the quarantine is full.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
e2e_start_sipvsd "$SIPVSD" "$CONF"
for i in 1 2 3 4; do e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"; done
for i in 1 2 3 4; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done

UAC=$E2E_DIR/uac
(e2e_uac "$UAC" $E2E_VIP4:5060 $E2E_CLIENT4 $CALLS $RATE $PAUSE_MS >/dev/null 2>&1 || true) &
UAC_WAITER=$!
E2E_PIDS+=("$UAC_WAITER")
for i in $(seq 1 50); do [ -s "$UAC/pid" ] && break; sleep 0.1; done
UAC_PID=$(cat "$UAC/pid")

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
  w1=$((1 + RANDOM % 3)) w2=$((1 + RANDOM % 3)) w3=$((1 + RANDOM % 3))
  case $((STEPNO % 3)) in
    1) reload $w1 $w2 $w3 1 ;;  # b4 added
    2) reload $w1 $w2 $w3 2 ;;  # weights change, b4 stays
    0) reload $w1 $w2 $w3 ;;    # b4 removed: its calls move
  esac
done
RSS_END=$(rss_kb)
wait "$UAC_WAITER" || true
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || true

OK=$(e2e_sipp_count "$UAC/screen.log" "Successful call")
FAILED=$(e2e_sipp_count "$UAC/screen.log" "Failed call")
# Per Call-ID of our UAC: the backend of its INVITE, where it was seen, and what.
read -r STAYED BROKEN MOVED < <(
  for d in b1 b2 b3 b4; do e2e_received "$E2E_DIR/$d" | sed "s|^|$d\t|"; done | awk -F'\t' -v pid="$UAC_PID" '
    index($4, "-" pid "@") == 0 { next }
    { id = $4; b = $1; m = $3
      if (!((id, b) in seen)) { seen[id, b] = 1; nb[id]++ }
      if (m == "INVITE" && !(id in inv)) inv[id] = b
      got[id, m] = 1; ids[id] = 1 }
    END {
      for (id in ids) {
        if (!(id in inv)) continue
        if (inv[id] == "b4") { if (nb[id] > 1) moved++; continue }
        stayed++
        if (nb[id] != 1 || !((id, "ACK") in got) || !((id, "BYE") in got)) { broken++; if (shown++ < 5) print "broken " id > "/dev/stderr" }
      }
      print stayed + 0, broken + 0, moved + 0
    }')
RSS_LIMIT=$((RSS_START + RSS_START * RSS_MARGIN_PCT / 100 + RSS_MARGIN_KB))
e2e_log "$RELOADS reloads; UAC: $OK successful, $FAILED failed of $CALLS"
e2e_log "calls on b1-b3 (kept): $STAYED, broken: $BROKEN; calls on b4 moved by its removal: $MOVED"
e2e_log "RSS: $RSS_START kB after warm-up, $RSS_END kB at the end (limit $RSS_LIMIT kB); per step (s kB): $(tr '\n' ' ' <"$E2E_DIR/rss.txt")"
[ "$RELOADS" -ge 3 ] || e2e_die "only $RELOADS configuration changes"
[ "$STAYED" -gt 0 ] || e2e_die "no calls reached b1-b3"
[ "$BROKEN" = 0 ] || e2e_die "$BROKEN calls on servers that stayed were broken"
[ "$RSS_END" -le "$RSS_LIMIT" ] || e2e_die "RSS grew from $RSS_START to $RSS_END kB"
e2e_log "PASS: $STAYED calls on kept servers, 0 broken, $MOVED moved off b4, $RELOADS changes, RSS $RSS_START -> $RSS_END kB"
