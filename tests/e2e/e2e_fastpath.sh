#!/usr/bin/env bash
# The eBPF fast path (docs/fast-path.md) with real SIPp calls, in the
# namespaces of lib.sh (client, director, three backends; IPv4 service
# "sip4", round robin, pe sip). The director's NFQUEUE rules are the ones
# `sipvsd rules` prints with the fast path on: they skip marked packets.
#   1. Calls through the fast path: every call whole on one backend; the
#      packets after each call's INVITE are placed on tc ingress (hits), and
#      NFQUEUE sees little more than the INVITEs.
#   2. A restart during calls, fast path on: the calls in progress keep their
#      backend while sipvsd is away (the pinned program and map place their
#      packets): 0 broken.
#   3. An upgrade from a sipvsd with one template map: the templates with
#      short Call-IDs it left in the long map move to the short map.
#   4. The restart of 2 with the fast path off (which also removes the one
#      left pinned): the calls whose packets came while sipvsd was away took
#      the fallback route; how many broke is printed beside 2's.
# sipvsd runs as nobody with CAP_BPF and CAP_NET_ADMIN alone, as the packaged
# unit runs it.
# Usage: e2e_fastpath.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
# Conditions read "A && B || die": die is meant to run when either fails.
# shellcheck disable=SC2015
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_fastpath.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp curl iptables jq tc setpriv

RATE=20
CALLS1=200       # phase 1: 10 s of 2-second calls
CALLS2=500       # phases 2 and 3: 25 s of new calls, 10 s each
HOLD2=10000
STOP_AFTER=14    # seconds into phases 2 and 3: ~200 calls in progress
AWAY=4           # seconds sipvsd is away
e2e_init fastpath

e2e_bpffs
BPFFS=$E2E_BPFFS
e2e_topology 3
CONF=$E2E_DIR/sipvsd.json
e2e_config "$CONF" rr 1 1 1
e2e_config_api "$CONF"
sed -i "1s|^{|{ \"fast_path\": { \"mode\": \"on\", \"pin_dir\": \"$BPFFS/sipvsd\" },|" "$CONF"
"$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"

# The queue rules exactly as `sipvsd rules` prints them for this configuration.
"$SIPVSD" rules --config "$CONF" | grep -E '^ip6?tables -t mangle -A PREROUTING -p udp -d ' >"$E2E_DIR/rules.sh"
grep -q -- "-m mark --mark 0x0/" "$E2E_DIR/rules.sh" || e2e_die "sipvsd rules: no skip of marked packets"
while read -r rule; do
  # shellcheck disable=SC2086
  nsx d $rule || e2e_die "rule failed: $rule"
done <"$E2E_DIR/rules.sh"

# sipvsd runs as the packaged unit runs it: not root, with CAP_BPF and
# CAP_NET_ADMIN alone (a program that needs more is refused by the verifier).
chown nobody "$E2E_DIR"
chmod 755 "$E2E_DIR"
install -d -o nobody -m 0700 "$BPFFS/sipvsd"
install -m 0755 "$SIPVSD" "$E2E_DIR/sipvsd"
SIPVSD=$E2E_DIR/sipvsd-unprivileged
printf '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups %s "%s" "$@"\n' \
  "--inh-caps=-all,+bpf,+net_admin --ambient-caps=-all,+bpf,+net_admin --bounding-set=-all,+bpf,+net_admin" \
  "$E2E_DIR/sipvsd" >"$SIPVSD"
chmod 755 "$SIPVSD"
e2e_start_sipvsd "$SIPVSD" "$CONF"
[ "$(ps -o user= -p "$E2E_SIPVSD_PID")" = nobody ] || e2e_die "sipvsd does not run as nobody"
grep -q "fast path on: tc ingress of .*d0" "$E2E_DIR/sipvsd.log" || e2e_die "the fast path is not on d0"
nsx d tc filter show dev d0 ingress | grep -q "sipvsd_ingress" || e2e_die "no sipvsd filter on d0's ingress"
for i in 1 2 3; do e2e_start_uas "b$i" "$E2E_VIP4" "$E2E_DIR/b$i"; done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done
UAS=("$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3")

stat_of() { e2e_api GET /v1/stats && jq -r "$1" "$E2E_DIR/api-body"; }
queued() { stat_of '[.queues[].packets] | add'; }

# ---- 1. calls through the fast path ----
e2e_log "phase 1: $CALLS1 calls of 2 s at $RATE/s"
q0=$(queued)
e2e_uac "$E2E_DIR/uac1" "$E2E_VIP4:5060" "$E2E_CLIENT4" $CALLS1 $RATE 2000 || true
e2e_calls "$(cat "$E2E_DIR/uac1/pid")" "${UAS[@]}" >"$E2E_DIR/phase1.calls"
total=$(e2e_count "$E2E_DIR/phase1.calls" 1)
whole=$(e2e_count "$E2E_DIR/phase1.calls" '$5 == 1')
hits=$(stat_of .fast_path.hits)
misses=$(stat_of .fast_path.misses)
q1=$(($(queued) - q0))
e2e_log "phase 1: $whole of $total calls whole; fast path hits $hits, misses $misses; NFQUEUE got $q1 packets"
[ "$total" = $CALLS1 ] && [ "$whole" = $CALLS1 ] || e2e_die "phase 1: $whole of $total calls whole (want $CALLS1)"
# Each call sends INVITE, ACK and BYE: the INVITE misses, ACK and BYE hit.
[ "$hits" -ge $((2 * CALLS1)) ] || e2e_die "phase 1: $hits fast-path hits, want at least $((2 * CALLS1))"
[ "$q1" -le $((CALLS1 + CALLS1 / 10)) ] || e2e_die "phase 1: NFQUEUE got $q1 packets for $CALLS1 calls"
e2e_pass "fast path: $CALLS1 calls whole, $hits packets placed on tc ingress, $q1 queued"

# restart_during_calls NAME: phase 2/3's traffic with sipvsd stopped for AWAY
# seconds STOP_AFTER seconds in. Sets SPAN and BROKEN: the calls whose INVITE
# came before the stop and whose BYE came after it, and how many of them
# were not whole on one backend.
restart_during_calls() {
  local name=$1
  e2e_uac_start "$E2E_DIR/uac-$name" "$E2E_VIP4:5060" "$E2E_CLIENT4" $CALLS2 $RATE $HOLD2
  sleep $STOP_AFTER
  local stop; stop=$(e2e_stamp)
  e2e_stop_pid "$E2E_SIPVSD_PID" || e2e_die "$name: sipvsd did not stop"
  sleep $AWAY
  E2E_SIPVSD_STARTS=$((${E2E_SIPVSD_STARTS:-1} + 1))
  e2e_start_sipvsd "$SIPVSD" "$CONF"
  wait "$E2E_UAC_WAITER" || true
  e2e_calls "$E2E_UAC_SIPP" "${UAS[@]}" >"$E2E_DIR/$name.calls"
  local span="\$3 < \"$stop\" && \$6 > \"$stop\""
  SPAN=$(e2e_count "$E2E_DIR/$name.calls" "$span")
  BROKEN=$(e2e_count "$E2E_DIR/$name.calls" "$span && \$5 == 0")
}

# ---- 2. a restart with the fast path ----
e2e_log "phase 2: $CALLS2 calls of $((HOLD2 / 1000)) s; sipvsd stopped for $AWAY s after $STOP_AFTER s"
restart_during_calls restart-fast
span2=$SPAN broken2=$BROKEN
grep -q "fast path on" <(tail -n 50 "$E2E_DIR/sipvsd.log") || e2e_die "phase 2: the fast path is not back on"
e2e_log "phase 2: $broken2 of $span2 calls in progress across the restart broken"
[ "$span2" -ge 100 ] || e2e_die "phase 2: only $span2 calls were in progress across the restart"
[ "$broken2" = 0 ] || e2e_die "phase 2: $broken2 of $span2 calls in progress broken with the fast path"
e2e_pass "restart with the fast path: 0 of $span2 calls in progress broken"

# ---- 3. an upgrade from a sipvsd with one template map ----
# That sipvsd kept every template in `templates`: UPGRADED of this one's
# short-map templates go there, with their Call-ID padded to the long key,
# and `templates_short` is unpinned. The next start moves them back.
UPGRADED=50
e2e_stop_pid "$E2E_SIPVSD_PID" || e2e_die "sipvsd did not stop"
PINS=$BPFFS/sipvsd
bpftool -j map dump pinned "$PINS/templates_short" |
  jq -c ".[:$UPGRADED][] | {key, value, mark: .formatted.value.mark}" >"$E2E_DIR/one-map.json"
[ "$(wc -l <"$E2E_DIR/one-map.json")" = $UPGRADED ] || e2e_die "upgrade: fewer than $UPGRADED templates to move"
PAD=$(printf ' 0x00%.0s' $(seq 1 196))  # the long key's Call-ID bytes past the short key's
while read -r entry; do
  # shellcheck disable=SC2046,SC2086
  bpftool map update pinned "$PINS/templates" key $(jq -r '.key | join(" ")' <<<"$entry") $PAD \
    value $(jq -r '.value | join(" ")' <<<"$entry") || e2e_die "upgrade: cannot write the long map"
done <"$E2E_DIR/one-map.json"
rm "$PINS/templates_short"
E2E_SIPVSD_STARTS=$((E2E_SIPVSD_STARTS + 1))
e2e_start_sipvsd "$SIPVSD" "$CONF"
grep -q "fast path: moved $UPGRADED templates with short Call-IDs" "$E2E_DIR/sipvsd.log" ||
  e2e_die "upgrade: sipvsd did not say it moved $UPGRADED templates: $(grep 'fast path' "$E2E_DIR/sipvsd.log" | tail -3)"
left=$(bpftool -j map dump pinned "$PINS/templates" | jq length)
kept=$(bpftool -j map dump pinned "$PINS/templates_short" |
  jq --slurpfile moved <(jq -s . "$E2E_DIR/one-map.json") \
    '[.[] | {key, mark: .formatted.value.mark}] as $now | [$moved[0][] | {key, mark} | select(. as $m | $now | index([$m]))] | length')
[ "$left" = 0 ] && [ "$kept" = $UPGRADED ] ||
  e2e_die "upgrade: $kept of $UPGRADED templates in the short map with their mark, $left left in the long map"
e2e_pass "upgrade from one map: the $UPGRADED templates it left in the long map moved to the short map, marks kept"

# ---- 4. the restart of 2 without the fast path ----
e2e_stop_pid "$E2E_SIPVSD_PID" || e2e_die "sipvsd did not stop"
sed -i 's/"mode": "on"/"mode": "off"/' "$CONF"
E2E_SIPVSD_STARTS=$((E2E_SIPVSD_STARTS + 1))
e2e_start_sipvsd "$SIPVSD" "$CONF"
nsx d tc filter show dev d0 ingress | grep -q . && e2e_die "fast path off left a filter on d0"
[ -n "$(ls -A "$BPFFS/sipvsd" 2>/dev/null)" ] && e2e_die "fast path off left its pins in $BPFFS/sipvsd"
e2e_log "phase 4: the same restart, fast path off"
restart_during_calls restart-slow
span3=$SPAN broken3=$BROKEN
e2e_log "phase 4: $broken3 of $span3 calls in progress across the restart broken"
[ "$broken3" -gt 0 ] || e2e_die "phase 4: no call broke without the fast path: phase 2 proves nothing"
e2e_pass "restart without the fast path: $broken3 of $span3 calls in progress broken (with it: $broken2 of $span2)"
echo "RESULT fast_path_restart_broken=$broken2/$span2 nfqueue_restart_broken=$broken3/$span3"
