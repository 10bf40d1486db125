#!/usr/bin/env bash
# End-to-end test of `forwarding: route`: sipvsd itself sets up the fwmark
# policy routing of the director (no hand-made ip rules), in the namespaces of
# lib.sh, with SIPp calls over IPv4 and IPv6 from one client IP:port. Proves:
#   1. at start sipvsd adds one rule per real server (fwmark MARK/mask lookup
#      TABLE, proto 245) and in each table the VIP via that real server;
#   2. calls complete and every message of a call reaches one backend
#      (the marks really reach the real servers through those rules);
#   3. removing a real server from the configuration (SIGHUP) removes its rule
#      and its table's route; the others stay; no new call reaches it;
#   4. a foreign rule (fwmark 0x999 lookup 999 pref 500) and its table stay
#      through start, reloads, periodic reconciles and stops;
#   5. a rule of sipvsd deleted by hand comes back (periodic reconcile);
#   6. a clean stop leaves the rules (default); with remove_on_exit it removes
#      its own and only its own;
#   7. on a kernel without IPVS, `forwarding: ipvs` fails at start with the fix named.
# Usage: e2e_route.sh PATH/TO/sipvsd     (as root; exit 77 = skipped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIPVSD=$(realpath "${1:?usage: e2e_route.sh PATH/TO/sipvsd}")
# shellcheck source=lib.sh
source "$HERE/lib.sh"
e2e_require sipp iptables

CALLS=200
RATE=100
e2e_init route
e2e_topology 3
D=$(e2e_ns d)

# lib.sh's topology comes with hand-made policy routing (prefs 101.., 201..):
# take it away, sipvsd must do it. The main table's fallback route stays
# (unmarked packets: sipvsd down with --queue-bypass).
for i in 1 2 3; do
  ip -n "$D" rule del pref $((100 + i))
  ip -n "$D" -6 rule del pref $((200 + i))
  ip -n "$D" route flush table $((100 + i))
  ip -n "$D" -6 route flush table $((200 + i))
done
# Someone else's rule and table: must survive everything below.
ip -n "$D" rule add fwmark 0x999 lookup 999 pref 500
ip -n "$D" route add 198.18.2.99/32 via "$(e2e_backend4 1)" table 999
FOREIGN_RULE="500:	from all fwmark 0x999 lookup 999"
# A dump that the kernel reports interrupted (the tables changed meanwhile)
# fails; it is read again, up to 3 times, before the answer counts.
foreign_ok() {
  local rules routes _
  for _ in 1 2 3; do
    if rules=$(ip -n "$D" rule show) && routes=$(ip -n "$D" route show table 999); then
      grep -qF "$FOREIGN_RULE" <<<"$rules" && grep -q '^198.18.2.99 via' <<<"$routes"
      return
    fi
    sleep 0.2
  done
  return 1
}
[ "$(ip -n "$D" rule show | grep -c fwmark)" = 1 ] || e2e_die "hand-made rules left in the director"

e2e_nfqueue_rules
CONF=$E2E_DIR/sipvsd.json
# config [REMOVE_ON_EXIT]: lib.sh's configuration for the current backends, with forwarding: route.
config() {
  e2e_config "$CONF" rr 1 1 1
  sed -i "s/^{ /{ \"forwarding\": \"route\", \"forwarding_options\": { \"remove_on_exit\": ${1:-false} }, /" "$CONF"
  "$SIPVSD" --check-config "$CONF" >/dev/null || e2e_die "generated configuration rejected"
}
config
e2e_start_sipvsd "$SIPVSD" "$CONF"

# rule_of MARK [-6]: sipvsd's rule for MARK as `ip rule` prints it, or nothing.
rule_of() { ip -n "$D" ${2:-} rule show | grep -E "fwmark $(printf '0x%x' "$1")/0xffff lookup [0-9]+ proto 245" || true; }
table_of() { rule_of "$@" | sed -E 's/.* lookup ([0-9]+) .*/\1/'; }
# route_ok MARK BACKEND_ADDRESS VIP [-6]: the mark's table routes the VIP via that backend.
route_ok() {
  local t; t=$(table_of "$1" "${4:-}")
  [ -n "$t" ] && ip -n "$D" ${4:-} route show table "$t" | grep -q "^$3 via $2 .*proto 245"
}
show_state() {
  e2e_log "ip rule:"$'\n'"$(ip -n "$D" rule show)"$'\n'"ip -6 rule:"$'\n'"$(ip -n "$D" -6 rule show)"
  local t
  for t in $(ip -n "$D" rule show | sed -nE 's/.* lookup (2[0-9]{4}) proto 245.*/\1/p'); do
    e2e_log "table $t: $(ip -n "$D" route show table "$t")"
  done
}

# ---- 1 ----
show_state
for i in 1 2 3; do
  [ -n "$(rule_of "$(e2e_mark4 "$i")")" ] || e2e_die "no rule for mark $(e2e_mark4 "$i")"
  [ -n "$(rule_of "$(e2e_mark6 "$i")" -6)" ] || e2e_die "no IPv6 rule for mark $(e2e_mark6 "$i")"
  route_ok "$(e2e_mark4 "$i")" "$(e2e_backend4 "$i")" $E2E_VIP4 || e2e_die "no route to backend $i in its table"
  route_ok "$(e2e_mark6 "$i")" "$(e2e_backend6 "$i")" $E2E_VIP6 -6 || e2e_die "no IPv6 route to backend $i in its table"
done
[ "$(ip -n "$D" rule show | grep -c 'proto 245')" = 3 ] && [ "$(ip -n "$D" -6 rule show | grep -c 'proto 245')" = 3 ] ||
  e2e_die "expected exactly 3 + 3 rules of sipvsd"
foreign_ok || e2e_die "the foreign rule or its table changed at start"
e2e_pass "1: sipvsd set up 3 IPv4 + 3 IPv6 rules (tables $(table_of 1) $(table_of 2) $(table_of 3) / $(table_of 11 -6) $(table_of 12 -6) $(table_of 13 -6)) and their routes; foreign rule intact"

# ---- 2 ----
for i in 1 2 3; do
  e2e_start_uas "b$i" $E2E_VIP4 "$E2E_DIR/b$i"
  e2e_start_uas "b$i" $E2E_VIP6 "$E2E_DIR/b${i}v6"
done
for i in 1 2 3; do e2e_wait_udp "b$i" 5060 || e2e_die "UAS in b$i did not start"; done
declare -A AFF
# calls NAME TARGET LOCAL_IP EXPECTED_BACKENDS DIRS...: SIPp calls, all must
# complete, each on exactly one backend, spread over the expected backends.
calls() {
  local name=$1 target=$2 local_ip=$3 expected=$4; shift 4
  local rc=0 ok
  e2e_uac "$E2E_DIR/uac-$name" "$target" "$local_ip" $CALLS $RATE 0 || rc=$?
  ok=$(e2e_sipp_count "$E2E_DIR/uac-$name/screen.log" "Successful call")
  [ "$rc" = 0 ] && [ "$ok" = $CALLS ] || e2e_die "$name: $ok of $CALLS calls completed (UAC exit $rc)"
  sleep 0.5
  AFF=()
  local k v
  while read -r k v; do AFF[$k]=$v; done < <(e2e_affinity "$E2E_UAC_PID" - "$@")
  [ "${AFF[single]}" = $CALLS ] && [ "${AFF[complete]}" = $CALLS ] ||
    e2e_die "$name: ${AFF[single]} of $CALLS calls on exactly one backend, ${AFF[complete]} complete there"
  local used=0 d line=""
  for d in "$@"; do
    local n=${AFF[calls.$(basename "$d")]:-0}
    line+=" $(basename "$d"):$n"
    [ "$n" -gt 0 ] && used=$((used + 1))
  done
  [ $used = "$expected" ] || e2e_die "$name: calls reached $used backends, expected $expected ($line)"
  e2e_pass "2: $name: $CALLS/$CALLS calls completed, 100 % on one backend each, per backend$line"
}
calls ipv4 $E2E_VIP4:5060 $E2E_CLIENT4 3 "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3"
calls ipv6 "[$E2E_VIP6]:5060" $E2E_CLIENT6 3 "$E2E_DIR/b1v6" "$E2E_DIR/b2v6" "$E2E_DIR/b3v6"

# ---- 3 ----
T3=$(table_of 3)
T13=$(table_of 13 -6)
before=$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)
E2E_BACKENDS=2 config
kill -HUP "$E2E_SIPVSD_PID"
for _ in $(seq 1 50); do
  [ "$(grep -c 'reloaded' "$E2E_DIR/sipvsd.log" || true)" -gt "$before" ] && break
  sleep 0.1
done
show_state
[ -z "$(rule_of 3)" ] && [ -z "$(rule_of 13 -6)" ] || e2e_die "the removed backend's rules are still there"
[ -z "$(ip -n "$D" route show table "$T3")" ] && [ -z "$(ip -n "$D" -6 route show table "$T13")" ] ||
  e2e_die "the removed backend's table routes are still there"
for i in 1 2; do
  route_ok "$(e2e_mark4 "$i")" "$(e2e_backend4 "$i")" $E2E_VIP4 || e2e_die "backend $i lost its rule or route"
  route_ok "$(e2e_mark6 "$i")" "$(e2e_backend6 "$i")" $E2E_VIP6 -6 || e2e_die "backend $i lost its IPv6 rule or route"
done
foreign_ok || e2e_die "the foreign rule or its table changed on reload"
grep -q "forwarding route: removed ip rule fwmark 0x3/0xffff" "$E2E_DIR/sipvsd.log" || e2e_die "the removal is not logged"
e2e_pass "3: SIGHUP without backend 3: its rules (mark 3, 13) and routes (tables $T3, $T13) removed; backends 1, 2 and the foreign rule untouched"
calls ipv4-after-removal $E2E_VIP4:5060 $E2E_CLIENT4 2 "$E2E_DIR/b1" "$E2E_DIR/b2" "$E2E_DIR/b3"
[ "${AFF[calls.b3]:-0}" = 0 ] || e2e_die "backend 3 got calls after its removal"

# ---- 5 ----
R1=$(rule_of 1 | cut -d: -f1)
ip -n "$D" rule del pref "$R1"
for _ in $(seq 1 150); do [ -n "$(rule_of 1)" ] && break; sleep 0.1; done
[ -n "$(rule_of 1)" ] || e2e_die "a deleted rule of sipvsd did not come back within 15 s"
e2e_pass "5: rule pref $R1 deleted by hand is back: $(rule_of 1)"

# ---- 6 ----
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop on SIGTERM"
[ "$(ip -n "$D" rule show | grep -c 'proto 245')" = 2 ] || e2e_die "a clean stop removed rules (remove_on_exit is false)"
foreign_ok || e2e_die "the foreign rule changed on stop"
e2e_pass "6: clean stop left sipvsd's 2 + 2 rules in place (remove_on_exit false)"
config true
E2E_SIPVSD_STARTS=2 e2e_start_sipvsd "$SIPVSD" "$CONF"
e2e_stop_pid "$E2E_SIPVSD_PID" TERM || e2e_die "sipvsd did not stop on SIGTERM"
[ "$(ip -n "$D" rule show | grep -c 'proto 245')" = 0 ] && [ "$(ip -n "$D" -6 rule show | grep -c 'proto 245')" = 0 ] ||
  e2e_die "remove_on_exit left rules behind"
[ -z "$(ip -n "$D" route show table all | grep 'proto 245')" ] || e2e_die "remove_on_exit left routes behind"
foreign_ok || e2e_die "remove_on_exit touched the foreign rule"
e2e_pass "4+6: with remove_on_exit sipvsd removed all its rules and routes; the foreign rule and table 999 stayed"

# ---- 7 ----
if [ -e /proc/net/ip_vs ] || nsx d test -e /proc/net/ip_vs; then
  e2e_log "SKIP 7: this kernel has IPVS"
else
  sed -i 's/"forwarding": "route"/"forwarding": "ipvs"/; s/"mark_mask": "[^"]*"/"mark_mask": "0xffffffff"/' "$CONF"
  rc=0
  out=$(nsx d "$SIPVSD" --config "$CONF" 2>&1) || rc=$?
  [ $rc = 1 ] || e2e_die "forwarding: ipvs without IPVS: exit $rc, expected 1"
  echo "$out" | grep -qF "the kernel has no IPVS: load ip_vs (modprobe ip_vs) or use forwarding: route" ||
    e2e_die "forwarding: ipvs without IPVS: no clear message: $out"
  e2e_pass "7: forwarding: ipvs on a kernel without IPVS: exit 1, \"$(echo "$out" | grep -o 'the kernel has no IPVS.*' | head -1)\""
fi
e2e_log "$E2E_PASSED passed, 0 failed"
echo "$E2E_PASSED passed, 0 failed"
