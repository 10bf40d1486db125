#!/usr/bin/env bash
# rules/fwmark-routing.sh touches only what it adds: in a network namespace of
# its own, foreign rules at the script's priorities (101, 102) and foreign
# routes in its tables survive "director" (twice) and "remove" unchanged, for
# IPv4 and IPv6; the script's own rules and routes come and go.
# Usage: test_fwmark_routing_script.sh PATH/TO/fwmark-routing.sh   (root; 77 = skipped)
set -euo pipefail
SCRIPT=$(realpath "${1:?usage: test_fwmark_routing_script.sh PATH/TO/fwmark-routing.sh}")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
NS="svfwr$$"
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

in_ns ip link set lo up
in_ns ip link add d0 type veth peer name d1
in_ns ip link set d1 up
in_ns ip link set d0 up
in_ns ip addr add 198.18.1.254/24 dev d0
in_ns ip addr add 2001:2:0:1::fe/64 dev d0 nodad

# Someone else's policy routing, in the priorities and tables the script uses.
in_ns ip rule add fwmark 0x77 lookup 101 pref 101
in_ns ip rule add from 198.18.9.0/24 lookup 102 pref 102
in_ns ip rule add fwmark 0x1/0xffff lookup 500 pref 101
in_ns ip route add 198.18.9.0/24 via 198.18.1.9 table 101
in_ns ip route add default via 198.18.1.9 table 102
in_ns ip -6 rule add fwmark 0x78 lookup 101 pref 101
in_ns ip -6 route add 2001:2:0:9::/64 via 2001:2:0:1::9 table 101

# Everything at those priorities and in those tables (the main table gets the
# fallback route by design, and "remove" leaves it).
state() {
  for f in -4 -6; do
    in_ns ip "$f" rule show | grep -E '^10[12]:' || true
    for t in 101 102; do in_ns ip "$f" route show table "$t" 2>/dev/null || true; done  # IPv6: no table yet
  done
}
before=$(state)
foreign() { printf '%s\n' "$before" | grep -c .; }
echo "foreign objects before: $(foreign)"
[ "$(foreign)" = 7 ] || { echo "FAIL: the foreign setup is incomplete"; exit 1; }

run() { in_ns sh "$SCRIPT" "$@" || fail "fwmark-routing.sh $* exited with status $?"; }
run director 198.18.2.100 0xffff 1=198.18.1.1 2=198.18.1.2
run director 198.18.2.100 0xffff 1=198.18.1.1 2=198.18.1.2  # again: replaces, never duplicates
run director 2001:2:0:2::100 0xffff 11=2001:2:0:1::1
during=$(state)
echo "$during"
has() { printf '%s\n' "$during" | grep -cxF "$1" || true; }
if [ "$(has "101:	from all fwmark 0x1/0xffff lookup 101")" = 1 ] &&
   [ "$(has "102:	from all fwmark 0x2/0xffff lookup 102")" = 1 ] &&
   [ "$(has "101:	from all fwmark 0xb/0xffff lookup 101")" = 1 ] &&
   printf '%s\n' "$during" | grep -q '^198\.18\.2\.100 via 198\.18\.1\.1 dev d0' &&
   printf '%s\n' "$during" | grep -q '^198\.18\.2\.100 via 198\.18\.1\.2 dev d0' &&
   printf '%s\n' "$during" | grep -q '^2001:2:0:2::100 via 2001:2:0:1::1 dev d0'; then
  pass "director added one rule and one route per mark (run twice)"
else
  fail "director: the script's rules and routes are not there once each"
fi
missing=$(printf '%s\n' "$before" | while IFS= read -r line; do
  printf '%s\n' "$during" | grep -qxF "$line" || echo "$line"; done)
if [ -z "$missing" ]; then pass "director left the foreign rules and routes alone"; else fail "director removed: $missing"; fi

run remove 198.18.2.100 0xffff 1=198.18.1.1 2=198.18.1.2
run remove 2001:2:0:2::100 0xffff 11=2001:2:0:1::1
after=$(state)
if [ "$after" = "$before" ]; then
  pass "remove took away exactly what director added"
else
  fail "after remove, rules and tables differ from before:"
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true
fi
if in_ns ip route show 198.18.2.100 | grep -q 'via 198.18.1.1'; then
  pass "the main table's fallback route stays"
else
  fail "no fallback route in the main table"
fi
echo "$fails failure(s)"
[ "$fails" = 0 ]
