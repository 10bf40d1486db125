#!/usr/bin/env bash
# sipvsd killed with SIGKILL while calls are in progress, weighted round
# robin (weights 1:1:2), in the namespaces of lib.sh (client, director, three
# backends). Judged per Call-ID from what the backends received. Proves:
#   1. the templates file is written while sipvsd runs, not only at a clean
#      stop: a periodic write after the calls began holds every one of them;
#   2. after SIGKILL and a start, the calls whose INVITE came before that
#      write keep their backend: INVITE, ACK and BYE all reach the backend
#      that took the INVITE (without the templates, wrr would schedule the
#      BYEs afresh and send most of them elsewhere);
#   3. the templates are restored before any queue is bound, hence before
#      any packet is decided (the order of the start's log lines).
# About 45 s. Usage: ops_crash.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: ops_crash.sh PATH/TO/sipvsd}")
# shellcheck source=../e2e/lib.sh
source "$HERE/../e2e/lib.sh"
e2e_require sipp iptables base64

RATE=50
CALLS=150      # 3 s of new calls
PAUSE=25000    # each lasts 25 s: past the next templates write (every 10 s by default) and the restart
e2e_init crash
e2e_topology 3
e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" wrr 1 1 2
e2e_config_api "$CONF"  # the state file, beside which the templates file lives
TEMPLATES=$E2E_DIR/state.json.templates
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
e2e_start_sipvsd "$SIPVSD" "$CONF"
for i in 1 2 3; do e2e_start_uas "b$i" "$E2E_VIP4" "$E2E_DIR/b$i"; done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done

# The Call-IDs in a templates file, one per line.
callids_in() {
  local b
  grep -o '"pe_data_base64": *"[^"]*"' "$1" | cut -d'"' -f4 | while read -r b; do
    printf '%s' "$b" | base64 -d
    echo
  done
}

# One short call first: wrr then stands one step into its sequence when the
# calls under test begin, so that BYEs scheduled afresh after a restart
# (which starts wrr over) cannot repeat the original choices by chance.
e2e_uac "$E2E_DIR/uac-first" "$E2E_VIP4:5060" "$E2E_CLIENT4" 1 1 0 >/dev/null || e2e_die "the first call failed"

e2e_uac_start "$E2E_DIR/uac" "$E2E_VIP4:5060" "$E2E_CLIENT4" $CALLS $RATE $PAUSE
sleep 3.5
e2e_log "every INVITE sent; waiting for a templates write that holds them"
# Bounded: 15 s, one and a half default intervals, so that the kill and the
# start still come well before the first BYE.
for _ in $(seq 1 75); do
  if [ -s "$TEMPLATES" ] && [ "$(grep -o pe_data_base64 "$TEMPLATES" | wc -l)" -gt $CALLS ]; then break; fi
  sleep 0.2
done
if [ -s "$TEMPLATES" ]; then cp "$TEMPLATES" "$E2E_DIR/templates-at-kill"; else : >"$E2E_DIR/templates-at-kill"; fi
saved=$(callids_in "$E2E_DIR/templates-at-kill" | grep -c -- "-$E2E_UAC_SIPP@" || true)

log_lines=$(wc -l <"$E2E_DIR/sipvsd.log")
e2e_stop_pid "$E2E_SIPVSD_PID" KILL || e2e_die "sipvsd survived SIGKILL"
e2e_log "sipvsd killed with $saved of the $CALLS calls in the last templates write"
export E2E_SIPVSD_STARTS=2  # read by lib.sh
e2e_start_sipvsd "$SIPVSD" "$CONF"
# This start's lines: restored before the first queue was bound.
tail -n +"$((log_lines + 1))" "$E2E_DIR/sipvsd.log" >"$E2E_DIR/restart.log"
# (Empty when missing, which is a failure judged below.)
restored_line=$(grep -n 'restored [0-9]* templates' "$E2E_DIR/restart.log" | head -1 | cut -d: -f1 || true)
bound_line=$(grep -n 'queue [0-9]* bound' "$E2E_DIR/restart.log" | head -1 | cut -d: -f1 || true)
restored=$(grep -o 'restored [0-9]* templates' "$E2E_DIR/restart.log" | head -1 | cut -d' ' -f2 || true)

wait "$E2E_UAC_WAITER" || true
ok=$(e2e_sipp_count "$E2E_DIR/uac/screen.log" "Successful call")
sleep 0.5  # the last BYE's log line
# No backend's calls are meant to move: "none" is no backend's name.
read -r stayed broken _ < <(e2e_judge "$E2E_UAC_SIPP" none "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")
spread=$(for b in b1 b2 b3; do
  e2e_received "$E2E_DIR/$b" | awk -F'\t' -v pid="$E2E_UAC_SIPP" '$2 == "INVITE" && index($3, "-" pid "@")' | head -1 | sed "s/^/$b /"
done | wc -l)
e2e_log "restart: ${restored:-no} templates restored (log line ${restored_line:-none}, first queue bound at line ${bound_line:-none}); $ok of $CALLS calls successful; $stayed calls seen, $broken not whole on their backend; INVITEs on $spread backends"

failures=()
[ "$saved" = $CALLS ] || failures+=("only $saved of $CALLS calls were in a templates write while sipvsd ran (1)")
[ "$stayed" = $CALLS ] || failures+=("the backends saw $stayed of $CALLS calls")
[ "$broken" = 0 ] || failures+=("$broken calls whose INVITE came before the last write did not keep their backend (2)")
[ "$spread" = 3 ] || failures+=("the calls should use all three backends")
if [ -z "$restored_line" ] || [ -z "$bound_line" ] || [ "$restored_line" -gt "$bound_line" ]; then
  failures+=("the templates were not restored before the first queue was bound (3)")
fi
[ "$ok" = $CALLS ] || failures+=("only $ok of $CALLS calls completed")
for f in "${failures[@]}"; do e2e_log "FAIL: $f"; done
[ ${#failures[@]} = 0 ] || exit 1

e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop"
e2e_log "$CALLS wrr calls in progress across SIGKILL and a start: all $saved in the periodic templates write, $restored templates restored before the queues were bound, all $stayed finished on the backend they started on"
e2e_log "PASS"
