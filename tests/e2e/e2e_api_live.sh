#!/usr/bin/env bash
# Changes through the REST API while SIPp traffic runs, and a restart with
# calls in progress, in the namespaces of lib.sh (client, director, three
# backends; IPv4 service "sip4", round robin). Judged per Call-ID from what
# the backends received. Proves:
#   1. live changes, one curl each, while 3-second calls run at 50 per second:
#      a. a backend added (b3) takes new calls from the moment it is added;
#      b. a backend quiesced (b1, weight 0) takes no new calls, and its calls
#         in progress finish there;
#      c. a backend removed (b2) takes no new calls; only its own calls in
#         progress move (its templates go, as with ipvsadm -d);
#      d. no call on a backend that stayed is broken: INVITE, ACK and BYE all
#         reach the one backend that took the INVITE;
#   2. a restart (SIGTERM, start again) while 8-second calls are in progress:
#      the services come back from the state file, the templates from the
#      templates file, and every call finishes on the backend it started on.
# Usage: e2e_api_live.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_api_live.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp curl iptables jq

RATE=50
LCALLS=600   # phase 1: 12 s of new calls, 3 s each
RCALLS=150   # phase 2: 3 s of new calls, 8 s each
e2e_init api
# The API on the director's loopback, and a state file for the restart.
e2e_setup_rr_api "$SIPVSD"
CONF=$E2E_CONF
UAS=("${E2E_UAS[@]}")
SERVERS=/v1/services/sip4/servers


# b3 starts outside the service: phase 1 adds it.
e2e_api DELETE $SERVERS/198.18.1.3:5060

# ---- 1: add, quiesce, remove while calls run ----
e2e_uac "$E2E_DIR/uac-live" "$E2E_VIP4:5060" "$E2E_CLIENT4" $LCALLS $RATE 3000 &
LUAC=$!
sleep 3
ADD_BEFORE=$(e2e_stamp)
e2e_api POST $SERVERS '{"address": "198.18.1.3", "port": 5060, "mark": 3}'
# Packets decided just before a change may still be on their way: judge new
# calls from a moment after the response.
sleep 0.2
ADD_AT=$(e2e_stamp)
sleep 3
e2e_api PATCH $SERVERS/198.18.1.1:5060 '{"weight": 0}'
sleep 0.2
QUIESCE_AT=$(e2e_stamp)
sleep 3
e2e_api DELETE $SERVERS/198.18.1.2:5060
sleep 0.2
REMOVE_AT=$(e2e_stamp)
rc=0
wait $LUAC || rc=$?
UAC_PID=$(cat "$E2E_DIR/uac-live/pid")
ok=$(e2e_sipp_count "$E2E_DIR/uac-live/screen.log" "Successful call")
# The calls b2 had in progress lose their backend, so the UAC may count a few
# failures (a BYE answered by a backend that never saw the call).
e2e_log "live: UAC exit $rc, $ok successful of $LCALLS; added b3 at $ADD_AT, quiesced b1 at $QUIESCE_AT, removed b2 at $REMOVE_AT"
e2e_calls "$UAC_PID" "${UAS[@]}" >"$E2E_DIR/live.calls"
L=$E2E_DIR/live.calls
total=$(e2e_count "$L" 1)
[ "$total" = $LCALLS ] || e2e_die "live: the backends saw $total of $LCALLS calls"
b3_before=$(e2e_count "$L" "\$2 == \"b3\" && \$3 < \"$ADD_BEFORE\"")
b3_after=$(e2e_count "$L" "\$2 == \"b3\" && \$3 >= \"$ADD_AT\"")
b1_late=$(e2e_count "$L" "\$2 == \"b1\" && \$3 >= \"$QUIESCE_AT\"")
b1_across=$(e2e_count "$L" "\$2 == \"b1\" && \$3 < \"$QUIESCE_AT\" && \$6 >= \"$QUIESCE_AT\" && \$5 == 1")
b2_late=$(e2e_count "$L" "\$2 == \"b2\" && \$3 >= \"$REMOVE_AT\"")
stayed_broken=$(e2e_count "$L" "(\$2 == \"b1\" || \$2 == \"b3\") && \$5 != 1")
b2_moved=$(e2e_count "$L" "\$2 == \"b2\" && \$5 != 1")
e2e_log "live: b3 new calls before/after its addition $b3_before/$b3_after; b1 new calls after weight 0: $b1_late, calls across it completed there: $b1_across; b2 new calls after removal: $b2_late, its calls moved: $b2_moved; broken calls on b1 and b3: $stayed_broken"
[ "$b3_before" = 0 ] && [ "$b3_after" -gt 0 ] || e2e_die "live: the added backend b3 did not take new calls only from its addition (1a)"
[ "$b1_late" = 0 ] && [ "$b1_across" -gt 0 ] || e2e_die "live: quiescing b1 did not stop new calls while keeping its calls (1b)"
[ "$b2_late" = 0 ] || e2e_die "live: the removed backend b2 got new calls (1c)"
[ "$stayed_broken" = 0 ] || e2e_die "live: $stayed_broken calls on backends that stayed were broken (1d)"
SUMMARY=("live: $LCALLS calls; b3 added: $b3_after new calls after, 0 before; b1 quiesced: 0 new calls, $b1_across in progress completed there; b2 removed: 0 new calls, $b2_moved of its calls in progress moved; 0 broken calls on b1 and b3")

# ---- 2: restart with calls in progress ----
e2e_api PATCH $SERVERS/198.18.1.1:5060 '{"weight": 1}'
e2e_api POST $SERVERS '{"address": "198.18.1.2", "port": 5060, "mark": 2}'
e2e_api GET /v1/services
e2e_without_live_state "$E2E_DIR/api-body" "$E2E_DIR/services-before"
e2e_uac "$E2E_DIR/uac-restart" "$E2E_VIP4:5060" "$E2E_CLIENT4" $RCALLS $RATE 8000 &
RUAC=$!
sleep 4  # every call started, none ended
DOWN_AT=$(e2e_stamp)
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop within 10 s of SIGTERM"
saved=$(grep -o 'saved [0-9]* templates' "$E2E_DIR/sipvsd.log" | tail -1 | cut -d' ' -f2)
export E2E_SIPVSD_STARTS=2  # read by lib.sh
e2e_start_sipvsd "$SIPVSD" "$CONF"
UP_AT=$(e2e_stamp)
restored=$(grep -o 'restored [0-9]* templates' "$E2E_DIR/sipvsd.log" | tail -1 | cut -d' ' -f2)
e2e_api GET /v1/services
e2e_without_live_state "$E2E_DIR/api-body" "$E2E_DIR/services-after"
cmp -s "$E2E_DIR/services-after" "$E2E_DIR/services-before" ||
  e2e_die "restart: the services differ: $(diff "$E2E_DIR/services-before" "$E2E_DIR/services-after")"
rc=0
wait $RUAC || rc=$?
UAC_PID=$(cat "$E2E_DIR/uac-restart/pid")
ok=$(e2e_sipp_count "$E2E_DIR/uac-restart/screen.log" "Successful call")
e2e_calls "$UAC_PID" "${UAS[@]}" >"$E2E_DIR/restart.calls"
R=$E2E_DIR/restart.calls
across=$(e2e_count "$R" "\$3 < \"$DOWN_AT\" && \$6 >= \"$UP_AT\"")
complete=$(e2e_count "$R" "\$5 == 1")
spread=$(awk '{ print $2 }' "$R" | sort -u | wc -l)
e2e_log "restart: down at $DOWN_AT, up at $UP_AT; $saved templates saved, $restored restored; UAC exit $rc, $ok successful of $RCALLS; calls across the restart $across, complete on their backend $complete, on $spread backends"
[ "$saved" -ge $RCALLS ] && [ "$restored" = "$saved" ] || e2e_die "restart: templates not saved and restored"
[ "$across" = $RCALLS ] || e2e_die "restart: only $across of $RCALLS calls were in progress across the restart (test too slow?)"
[ "$complete" = $RCALLS ] || e2e_die "restart: $((RCALLS - complete)) calls did not finish on their backend (2)"
[ "$spread" = 3 ] || e2e_die "restart: the calls should use all three backends"
[ "$rc" = 0 ] && [ "$ok" = $RCALLS ] || e2e_die "restart: not every call completed"
SUMMARY+=("restart: $RCALLS calls in progress on 3 backends across SIGTERM and start; $restored templates restored; all $complete finished on the backend they started on; services unchanged")

e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop"
for line in "${SUMMARY[@]}"; do e2e_log "$line"; done
e2e_log "PASS"
